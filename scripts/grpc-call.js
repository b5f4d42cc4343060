#!/usr/bin/env node
// Call the tracker's gRPC admin API with nothing but server reflection (no .proto needed), for
// readers without grpcurl. Address and token come from the swarm `swarmshare up` recorded in
// DATA/cluster.json, or from --addr/--token (or GRPC_ADDR/ADMIN_TOKEN). The port is mutual TLS with
// the swarm CA: the CLI's certificate recorded there is used, or --cacert/--cert/--key; --plaintext
// for a tracker run with GRPC_TLS=off.
//
//   node scripts/grpc-call.js list                                  # services and methods
//   node scripts/grpc-call.js ListFiles
//   node scripts/grpc-call.js GetFile '{"file_id":"<ID>"}'
//   node scripts/grpc-call.js Fetch '{"node_id":"b","file_id":"<ID>"}'   # one JSON line per progress message
//   node scripts/grpc-call.js --addr 127.0.0.1:9090 --token "$ADMIN_TOKEN" --cacert ca.pem --cert cli-local.pem --key cli-local.key ListPeers
'use strict';
const { readFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const grpc = require('@grpc/grpc-js');
const { GrpcReflection } = require('grpc-js-reflection-client');

const UNARY_DEADLINE_MS = 30_000;

function usage(message) {
  process.stderr.write(`${message}\nusage: node scripts/grpc-call.js [--data DIR | --addr HOST:PORT --token TOKEN (--cacert CA --cert CERT --key KEY | --plaintext)] (list | METHOD [JSON])\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { data: '.swarmshare', rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (['--data', '--addr', '--token', '--cacert', '--cert', '--key'].includes(a)) {
      if (argv[i + 1] === undefined) usage(`${a} needs a value`);
      opts[a.slice(2)] = argv[++i];
    } else if (a === '--plaintext') opts.plaintext = true;
    else opts.rest.push(a);
  }
  return opts;
}

/** Address and token: flags, then the environment, then the swarm recorded in DATA/cluster.json. */
function target(opts) {
  let cluster;
  const fromCluster = () => {
    if (cluster === undefined) {
      const path = join(resolve(opts.data), 'cluster.json');
      try {
        cluster = JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        usage(`no swarm recorded in ${path}: pass --addr, --token and --cacert/--cert/--key (or --plaintext), or --data DIR of a running \`swarmshare up\``);
      }
    }
    return cluster;
  };
  const addr = opts.addr ?? process.env.GRPC_ADDR ?? `127.0.0.1:${Object.values(fromCluster().grpcPorts ?? {})[0] ?? usage('cluster.json lists no gRPC port')}`;
  const token = opts.token ?? process.env.ADMIN_TOKEN ?? fromCluster().adminToken;
  if (!token) usage('no admin token: pass --token or set ADMIN_TOKEN');
  return { addr, token, credentials: channelCredentials(opts, fromCluster) };
}

/** Mutual TLS with the given files, else with the CLI's certificate `up` recorded (null: an --insecure swarm). */
function channelCredentials(opts, fromCluster) {
  if (opts.plaintext) return grpc.credentials.createInsecure();
  const given = [opts.cacert, opts.cert, opts.key].filter((f) => f !== undefined).length;
  if (given > 0 && given < 3) usage('--cacert, --cert and --key go together');
  const files = given === 3 ? { ca: opts.cacert, cert: opts.cert, key: opts.key } : fromCluster().peerTls;
  if (!files) return grpc.credentials.createInsecure();
  const read = (f) => {
    try {
      return readFileSync(f);
    } catch (e) {
      return usage(`cannot read ${f}: ${e.message}`);
    }
  };
  return grpc.credentials.createSsl(read(files.ca), read(files.key), read(files.cert));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const [what, json] = opts.rest;
  if (!what) usage('say what to call');
  const { addr, token, credentials } = target(opts);
  const reflection = new GrpcReflection(addr, credentials);
  const services = (await reflection.listServices()).filter((s) => s !== 'grpc.reflection.v1.ServerReflection' && s !== 'grpc.reflection.v1alpha.ServerReflection');
  const methods = {};
  for (const s of services) methods[s] = (await reflection.listMethods(s)).map((m) => m.name);
  if (what === 'list') {
    for (const s of services) process.stdout.write(`${s}\n${methods[s].map((m) => `  ${m}\n`).join('')}`);
    return;
  }
  const service = services.find((s) => methods[s].includes(what));
  if (!service) usage(`no service at ${addr} has a method ${what}; \`list\` shows what there is`);
  let request = {};
  if (json !== undefined) {
    try {
      request = JSON.parse(json);
    } catch (e) {
      usage(`the request is not JSON: ${e.message}`);
    }
  }
  const pkg = (await reflection.getDescriptorBySymbol(service)).getPackageObject({ keepCase: true, longs: String, enums: String, defaults: true });
  const Client = service.split('.').reduce((o, p) => o[p], pkg);
  const client = new Client(addr, credentials);
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const fail = (e) => {
    process.stderr.write(`${service}/${what} failed: ${grpc.status[e.code] ?? e.code} ${e.details ?? e.message}\n`);
    process.exitCode = 1;
  };
  if (Client.service[what].responseStream) {
    const call = client[what](request, metadata);
    process.once('SIGINT', () => call.cancel());
    await new Promise((done) => {
      call.on('data', (m) => process.stdout.write(`${JSON.stringify(m)}\n`));
      call.on('error', (e) => (e.code === grpc.status.CANCELLED ? undefined : fail(e), done()));
      call.on('end', done);
    });
  } else {
    await new Promise((done) =>
      client[what](request, metadata, { deadline: Date.now() + UNARY_DEADLINE_MS }, (e, r) => {
        if (e) fail(e);
        else process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        done();
      }),
    );
  }
  client.close();
}

main().catch((e) => {
  process.stderr.write(`grpc-call: ${e.message}\n`);
  process.exit(1);
});
