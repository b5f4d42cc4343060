/**
 * k8s/ (kustomize): every object validated against the Kubernetes schemas (kubernetes-models) with
 * no unknown fields, container env checked against the service config schemas and topology.ts,
 * probe paths against the routes the services serve, and the operational rules (resources,
 * non-root security contexts, PDBs, stable peer addresses). Rendered with `kubectl kustomize` where
 * kubectl is installed; the files the kustomization lists are loaded directly in any case.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path/posix';
import { parse } from 'yaml';
import { controlPlaneUsers, natsAuthorizationInclude, OBSERVABILITY_ROUTES, redisAclFile, requiredPasswordKeys } from '@swarmshare/common';
import { defaultedKeys, requiredKeys, type Role, ROLES, schemaKeys, topologyEnv, topologyKeys, validateEnv } from './deploy-model';
import {
  type Container,
  K8S_DIR,
  type K8sObject,
  k8sWithControlPlane,
  KNOWN_KINDS,
  loadListedResources,
  modelKey,
  podSpecOf,
  renderWithKubectl,
  unknownFields,
  validateObject,
} from './k8s-model';

// k8s/ with k8s/control-plane generated as the docs say (it is not in git; see kustomization.yaml).
const deployed = k8sWithControlPlane();
afterAll(() => deployed.cleanup());
const listed = loadListedResources(deployed.dir);
const rendered = renderWithKubectl(deployed.dir);
const objects = rendered ?? listed;

const find = (kind: string, name: string): K8sObject => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`k8s/ has no ${kind} ${name}`);
  return o;
};
const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
const configMap = find('ConfigMap', 'swarmshare-config') as K8sObject & { data: Record<string, string> };
const secret = find('Secret', 'swarmshare-secrets') as K8sObject & { stringData?: Record<string, string>; data?: Record<string, string> };

const roleOf = (c: Container): Role | undefined => ((ROLES as string[]).includes(c.args?.[0] ?? '') && c.image.split(':')[0] === 'swarmshare' ? (c.args![0] as Role) : undefined);

/** A container's environment as the kubelet would give it to pod `podName`. */
function resolveEnv(c: Container, podName: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    let v: string;
    if (e.value !== undefined) v = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => env[name] ?? m);
    else if (e.valueFrom?.fieldRef) {
      if (e.valueFrom.fieldRef.fieldPath !== 'metadata.name') throw new Error(`${c.name}: ${e.name} uses fieldRef ${e.valueFrom.fieldRef.fieldPath}`);
      v = podName;
    } else if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef;
      if (ref.name !== configMap.metadata.name || !(ref.key in configMap.data)) throw new Error(`${c.name}: ${e.name} refers to missing ConfigMap key ${ref.name}/${ref.key}`);
      v = configMap.data[ref.key];
    } else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const raw = secret.stringData?.[ref.key] ?? (secret.data?.[ref.key] !== undefined ? Buffer.from(secret.data[ref.key], 'base64').toString('utf8') : undefined);
      if (ref.name !== secret.metadata.name || raw === undefined) throw new Error(`${c.name}: ${e.name} refers to missing Secret key ${ref.name}/${ref.key}`);
      v = raw;
    } else throw new Error(`${c.name}: ${e.name} has no value`);
    env[e.name] = v;
  }
  return env;
}

function podNameOf(w: K8sObject): string {
  return w.kind === 'StatefulSet' ? `${w.metadata.name}-0` : `${w.metadata.name}-7d4b9c8f6d-x2x7q`;
}

function portNumber(c: Container, port: number | string): number | undefined {
  return typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort;
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);

const swarmContainers = workloads.flatMap((w) => podSpecOf(w)!.containers.filter((c) => roleOf(c)).map((c) => ({ w, c, role: roleOf(c)! })));

describe('k8s/ (kustomize)', () => {
  it('lists every manifest in kustomization.yaml, and kustomize renders exactly those objects', () => {
    const files = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
    const ids = (os: K8sObject[]) => os.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
    expect(listed.length).toBeGreaterThan(10);
    const { resources } = parse(readFileSync(join(K8S_DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect([...resources].sort()).toEqual(files);
    if (rendered) {
      expect(ids(rendered)).toEqual(ids(listed));
      const images = (os: K8sObject[]) => os.flatMap((o) => podSpecOf(o)?.containers.map((c) => `${o.metadata.name}/${c.name}=${c.image}`) ?? []).sort();
      expect(images(rendered)).toEqual(images(listed));
    }
  });

  it('validates every object against its Kubernetes schema, with no unknown fields, all in the swarmshare namespace', () => {
    for (const o of objects) {
      expect(KNOWN_KINDS).toContain(modelKey(o));
      expect(() => validateObject(o)).not.toThrow();
      if (o.kind !== 'Namespace') expect(`${o.kind}/${o.metadata.name}: ${o.metadata.namespace}`).toBe(`${o.kind}/${o.metadata.name}: swarmshare`);
    }
    expect(find('Namespace', 'swarmshare').kind).toBe('Namespace');
    expect(unknownFields(objects)).toEqual([]);
  });

  it('catches a schema violation and a misspelt field (the checks above can fail)', () => {
    const tracker = JSON.parse(JSON.stringify(find('Deployment', 'swarmshare-tracker'))) as K8sObject;
    const c = podSpecOf(tracker)!.containers[0] as Container & Record<string, unknown>;
    c.ports = [{ name: 'http', containerPort: 'eight' as unknown as number }];
    expect(() => validateObject(tracker)).toThrow(/containerPort must be integer/);
    c.ports = [{ name: 'http', containerPort: 8080 }];
    c.readinesProbe = c.readinessProbe;
    expect(unknownFields([tracker])).toEqual(['Deployment/swarmshare-tracker.spec.template.spec.containers[0].readinesProbe']);
  });

  it('runs NATS as a 3-server JetStream cluster and Redis with an append-only file on a PVC', () => {
    const nats = find('StatefulSet', 'swarmshare-nats') as K8sObject & { spec: { replicas: number; serviceName: string; volumeClaimTemplates: Array<{ metadata: { name: string } }> } };
    expect(nats.spec.replicas).toBe(3);
    const conf = (find('ConfigMap', 'swarmshare-nats-config') as K8sObject & { data: Record<string, string> }).data['nats.conf'];
    expect(conf).toMatch(/jetstream \{\s*store_dir: \/data\/jetstream/);
    for (let i = 0; i < 3; i++) expect(conf).toContain(`nats://swarmshare-nats-${i}.${nats.spec.serviceName}:6222`);
    expect(find('Service', nats.spec.serviceName).spec).toMatchObject({ clusterIP: 'None' });
    const natsContainer = podSpecOf(nats)!.containers[0];
    expect(natsContainer.volumeMounts).toContainEqual({ name: nats.spec.volumeClaimTemplates[0].metadata.name, mountPath: '/data' });
    expect(find('Service', 'swarmshare-nats').spec).toMatchObject({ ports: [{ port: 4222 }] });

    const redis = find('StatefulSet', 'swarmshare-redis') as K8sObject & { spec: { volumeClaimTemplates: Array<{ metadata: { name: string } }> } };
    const rc = podSpecOf(redis)!.containers[0];
    const args = (rc.args ?? []).join(' ');
    expect(args).toMatch(/--appendonly yes/);
    const dir = rc.args![rc.args!.indexOf('--dir') + 1];
    expect(rc.volumeMounts).toContainEqual({ name: redis.spec.volumeClaimTemplates[0].metadata.name, mountPath: dir });
    expect(find('Service', 'swarmshare-redis').metadata.name).toBe('swarmshare-redis');
    // No shared password any more: every process has its own user (cases below).
    expect(Object.keys(secret.stringData ?? {}).filter((k) => /NATS|REDIS/.test(k))).toEqual([]);
  });

  /** The generated Secret's keys and their values (what `swarmshare control-plane` wrote). */
  const controlPlane = find('Secret', 'swarmshare-control-plane') as K8sObject & { data: Record<string, string> };
  const cpValue = (key: string) => Buffer.from(controlPlane.data[key], 'base64').toString('utf8');
  type Volume = { name: string; secret?: { secretName: string; items?: Array<{ key: string; path: string }> }; emptyDir?: { medium?: string }; csi?: unknown };
  const volumesOf = (w: K8sObject) => (podSpecOf(w)!.volumes ?? []) as Volume[];
  /** The volume a container reads `path` from, and the path inside it. */
  function fileSource(w: K8sObject, c: Container, path: string): { volume: Volume; inside: string } {
    const m = (c.volumeMounts ?? []).filter((x) => path.startsWith(`${x.mountPath}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    if (!m) throw new Error(`${c.name}: nothing mounted at ${path}`);
    expect({ c: c.name, path, readOnly: m.readOnly }).toEqual({ c: c.name, path, readOnly: true });
    return { volume: volumesOf(w).find((v) => v.name === m.name)!, inside: path.slice(m.mountPath.length + 1) };
  }
  const arg = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

  it('runs NATS TLS only with a user per service and per node: the rendered users are included from the generated Secret', () => {
    const nats = find('StatefulSet', 'swarmshare-nats');
    const conf = (find('ConfigMap', 'swarmshare-nats-config') as K8sObject & { data: Record<string, string> }).data['nats.conf'];
    const c = podSpecOf(nats)!.containers[0];
    const confPath = arg(c.args!, '--config');
    const confDir = confPath.slice(0, confPath.lastIndexOf('/'));
    expect(fileSource(nats, c, confPath).volume).toMatchObject({ configMap: { name: 'swarmshare-nats-config' } });
    // include paths are relative to the including file: the users file, and only it, from the Secret.
    const include = /^\s*include (\S+)$/m.exec(conf)![1];
    const usersPath = join(confDir, include);
    const users = fileSource(nats, c, usersPath);
    expect(users.volume.secret).toEqual({ secretName: 'swarmshare-control-plane', defaultMode: 0o440, items: [{ key: 'nats-users.conf', path: users.inside }] });
    const node = find('StatefulSet', 'swarmshare-node') as K8sObject & { spec: { replicas: number } };
    const nodeIds = Array.from({ length: node.spec.replicas }, (_, i) => `swarmshare-node-${i}`);
    const userNames = [...cpValue('nats-users.conf').matchAll(/"user": "([^"]+)"/g)].map((m) => m[1]);
    expect(userNames).toEqual(['admin', 'tracker', ...nodeIds.flatMap((id) => [`store-${id}`, `gateway-${id}`])]);
    // What the Secret holds is what the code renders (nats-users.ts), with the Secret's passwords.
    const passwords = new Map(Object.keys(controlPlane.data).filter((k) => !['nats-users.conf', 'users.acl'].includes(k)).map((k) => [k, cpValue(k)]));
    expect(cpValue('nats-users.conf')).toBe(natsAuthorizationInclude(controlPlaneUsers(nodeIds, passwords).nats));
    expect(cpValue('users.acl')).toBe(redisAclFile(controlPlaneUsers(nodeIds, passwords).redis));
    expect([...passwords.keys()].sort()).toEqual(requiredPasswordKeys(nodeIds).sort());
    // TLS with the certificate cert-manager issues for the Service name clients dial.
    const tls = /tls \{([^}]*)\}/.exec(conf)![1];
    const cert = /cert_file: (\S+)/.exec(tls)![1];
    const tlsVolume = fileSource(nats, c, cert).volume.secret!.secretName;
    const certificate = objects.find((o) => o.kind === 'Certificate' && (o.spec as { secretName: string }).secretName === tlsVolume) as K8sObject & { spec: { dnsNames: string[]; usages: string[]; issuerRef: { name: string } } };
    expect(certificate.spec.dnsNames).toContain('swarmshare-nats');
    expect(certificate.spec.usages).toEqual(['server auth', 'digital signature']);
    expect(certificate.spec.issuerRef.name).toBe('swarmshare-peer-ca');
    expect(/key_file: (\S+)/.exec(tls)![1]).toBe(`${cert.slice(0, cert.lastIndexOf('/'))}/tls.key`);
    // No credentials in the NATS pod's environment any more.
    expect((c.env ?? []).map((e) => e.name)).toEqual(['POD_NAME']);
  });

  it('runs Redis TLS only with the rendered ACL file from the generated Secret and a certificate for swarmshare-redis', () => {
    const redis = find('StatefulSet', 'swarmshare-redis');
    const rc = podSpecOf(redis)!.containers[0];
    const args = rc.args!;
    expect(arg(args, '--port')).toBe('0');
    expect(arg(args, '--tls-port')).toBe('6379');
    const acl = fileSource(redis, rc, arg(args, '--aclfile'));
    expect(acl.volume.secret).toEqual({ secretName: 'swarmshare-control-plane', defaultMode: 0o440, items: [{ key: 'users.acl', path: acl.inside }] });
    expect(cpValue('users.acl').split('\n')[0]).toBe('user default off resetkeys -@all');
    const certSecret = fileSource(redis, rc, arg(args, '--tls-cert-file')).volume.secret!.secretName;
    expect(fileSource(redis, rc, arg(args, '--tls-key-file')).volume.secret!.secretName).toBe(certSecret);
    const certificate = objects.find((o) => o.kind === 'Certificate' && (o.spec as { secretName: string }).secretName === certSecret) as K8sObject & { spec: { dnsNames: string[]; issuerRef: { name: string } } };
    expect(certificate.spec.dnsNames).toEqual(expect.arrayContaining(['swarmshare-redis', 'localhost']));
    expect(certificate.spec.issuerRef.name).toBe('swarmshare-peer-ca');
    expect((rc.env ?? []).length).toBe(0);
    expect(rc.readinessProbe?.exec?.command.join(' ')).toMatch(/redis-cli --tls --cacert \S+ -h localhost ping/);
  });

  it('logs every process into NATS and Redis as its own user over TLS, with only its own passwords in its files', () => {
    const node = find('StatefulSet', 'swarmshare-node') as K8sObject & { spec: { replicas: number } };
    const tracker = find('Deployment', 'swarmshare-tracker');
    const pod = podNameOf(node);
    const logins: Array<{ w: K8sObject; c: Container; nats: string; redis?: string }> = [
      { w: tracker, c: podSpecOf(tracker)!.containers[0], nats: 'tracker', redis: 'tracker' },
      { w: node, c: podSpecOf(node)!.containers.find((x) => roleOf(x) === 'chunk-store')!, nats: `store-${pod}`, redis: `store-${pod}` },
      { w: node, c: podSpecOf(node)!.containers.find((x) => roleOf(x) === 'peer-gateway')!, nats: `gateway-${pod}` },
    ];
    /** Where each emptyDir's files come from: the init container's `cp SRC DEST` lines. */
    const init = podSpecOf(node)!.initContainers!.find((x) => x.name === 'credentials')!;
    const script = init.command!.join(' ');
    const copies = [...script.matchAll(/cp "?(\S+?)"? (\S+)/g)].map((m) => ({ from: m[1].replace('$POD_NAME', pod), to: m[2] }));
    for (const { w, c, nats, redis } of logins) {
      const env = resolveEnv(c, podNameOf(w));
      const where = `${w.metadata.name}/${c.name}`;
      const url = new URL(env.NATS_URL);
      expect({ where, scheme: url.protocol, user: url.username, password: url.password, host: url.host }).toEqual({ where, scheme: 'tls:', user: nats, password: '', host: 'swarmshare-nats:4222' });
      const check = (file: string, key: string) => {
        const src = fileSource(w, c, file);
        if (src.volume.secret) {
          // Straight from the Secret: that one key only.
          expect({ where, items: src.volume.secret.items }).toEqual({ where, items: expect.arrayContaining([{ key, path: src.inside }]) });
          expect(src.volume.secret.items!.every((i) => i.key.endsWith(`-${nats}`) || i.key.endsWith(`-${redis}`))).toBe(true);
        } else {
          // An emptyDir the init container filled from the Secret, with this pod's key.
          expect(src.volume.emptyDir).toEqual({ medium: 'Memory', sizeLimit: '1Mi' });
          const initMount = init.volumeMounts!.find((m) => m.name === src.volume.name)!;
          expect(copies).toContainEqual({ from: `/control-plane/${key}`, to: `${initMount.mountPath}/${src.inside}` });
        }
        expect(controlPlane.data[key]).toBeDefined();
      };
      check(env.NATS_PASSWORD_FILE, `nats-${nats}`);
      expect(env.NATS_CA_FILE).toBeDefined();
      if (redis) {
        const r = new URL(env.REDIS_URL);
        expect({ where, scheme: r.protocol, user: r.username, password: r.password, host: r.host }).toEqual({ where, scheme: 'rediss:', user: redis, password: '', host: 'swarmshare-redis:6379' });
        check(env.REDIS_PASSWORD_FILE, `redis-${redis}`);
        expect(env.REDIS_CA_FILE).toBeDefined();
      } else expect(env.REDIS_URL).toBeUndefined();
    }
    // Only the init container mounts the whole Secret (every node's passwords); it has a key for each replica.
    const whole = volumesOf(node).filter((v) => v.secret?.secretName === 'swarmshare-control-plane');
    expect(whole.map((v) => v.secret!.items)).toEqual([undefined]);
    const holders = [...podSpecOf(node)!.containers, init].filter((c) => c.volumeMounts?.some((m) => m.name === whole[0].name)).map((c) => c.name);
    expect(holders).toEqual(['credentials']);
    for (let i = 0; i < node.spec.replicas; i++) for (const k of ['nats-store', 'redis-store', 'nats-gateway']) expect(controlPlane.data[`${k}-swarmshare-node-${i}`]).toBeDefined();
    expect(controlPlane.data[`nats-store-swarmshare-node-${node.spec.replicas}`]).toBeUndefined();
    // The store does not see the pod's TLS key: the CA is copied for it.
    expect(podSpecOf(node)!.containers.find((x) => roleOf(x) === 'chunk-store')!.volumeMounts!.map((m) => m.name)).not.toContain('peer-tls');
    // The init container meets the same rules as the others.
    expect(init.securityContext).toEqual({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(init.resources?.limits).toBeDefined();
  });

  it('runs 2 tracker replicas and a node StatefulSet whose pods hold a chunk-store and a peer-gateway', () => {
    const tracker = find('Deployment', 'swarmshare-tracker') as K8sObject & { spec: { replicas: number } };
    expect(tracker.spec.replicas).toBe(2);
    expect(podSpecOf(tracker)!.containers.map((c) => roleOf(c))).toEqual(['tracker']);
    const node = find('StatefulSet', 'swarmshare-node');
    expect(podSpecOf(node)!.containers.map((c) => roleOf(c))).toEqual(['chunk-store', 'peer-gateway']);
    expect(swarmContainers.map((x) => x.role).sort()).toEqual(['chunk-store', 'peer-gateway', 'tracker']);
  });

  it('sets only variables each service reads, every required one, values it accepts, and the env topology.ts builds for its role', () => {
    const used = new Set<string>();
    for (const { w, c, role } of swarmContainers) {
      const where = `${w.metadata.name}/${c.name}`;
      expect({ where, envFrom: c.envFrom }).toEqual({ where, envFrom: undefined });
      const names = (c.env ?? []).map((e) => e.name);
      expect({ where, duplicates: names.filter((n, i) => names.indexOf(n) !== i) }).toEqual({ where, duplicates: [] });
      const known = new Set(schemaKeys(role));
      expect({ where, unknown: names.filter((n) => !known.has(n)) }).toEqual({ where, unknown: [] });
      expect({ where, missing: requiredKeys(role).filter((k) => !names.includes(k)) }).toEqual({ where, missing: [] });
      const env = resolveEnv(c, podNameOf(w));
      expect(() => validateEnv(role, env)).not.toThrow();
      const topo = new Set(topologyKeys(role));
      expect({ where, missing: [...topo].filter((k) => !(k in env)) }).toEqual({ where, missing: [] });
      const extras = Object.fromEntries(Object.entries(env).filter(([k]) => !topo.has(k)));
      for (const k of Object.keys(extras)) expect(defaultedKeys(role)).toContain(k);
      expect({ where, env }).toEqual({ where, env: topologyEnv(role, env, extras) });
      for (const e of c.env ?? []) if (e.valueFrom?.configMapKeyRef) used.add(e.valueFrom.configMapKeyRef.key);
    }
    // no setting in the ConfigMap that no container reads
    expect(Object.keys(configMap.data).filter((k) => !used.has(k))).toEqual([]);
  });

  it('gives both containers of a node pod one volume at one path, the pod name as NODE_ID, and a stable peer address', () => {
    const node = find('StatefulSet', 'swarmshare-node') as K8sObject & {
      spec: { serviceName: string; volumeClaimTemplates: Array<{ metadata: { name: string } }>; template: { metadata: { labels: Record<string, string> } } };
    };
    const [store, gateway] = podSpecOf(node)!.containers;
    const pod = podNameOf(node);
    const se = resolveEnv(store, pod);
    const ge = resolveEnv(gateway, pod);
    const idRef = (c: Container) => c.env!.find((e) => e.name === 'NODE_ID')!.valueFrom?.fieldRef?.fieldPath;
    expect(idRef(store)).toBe('metadata.name');
    expect(idRef(gateway)).toBe('metadata.name');
    expect(se.NODE_ID).toBe(ge.NODE_ID);
    const claim = node.spec.volumeClaimTemplates[0].metadata.name;
    const mountOf = (c: Container) => c.volumeMounts!.find((m) => m.name === claim);
    expect(mountOf(store)?.mountPath).toBe(se.DATA_DIR);
    expect(mountOf(gateway)?.mountPath).toBe(ge.DATA_DIR);
    expect(se.DATA_DIR).toBe(ge.DATA_DIR);
    expect(mountOf(store)?.readOnly).toBeUndefined();
    expect(mountOf(gateway)?.readOnly).toBeUndefined();

    expect(ge.ADVERTISE_ADDRESS).toBe(`${pod}.${node.spec.serviceName}:${ge.PEER_PORT}`);
    expect(ge.PEER_HOST).toBe('0.0.0.0');
    const headless = find('Service', node.spec.serviceName) as K8sObject & { spec: { clusterIP: string; publishNotReadyAddresses?: boolean; selector: Record<string, string>; ports: Array<{ port: number; targetPort: string | number }> } };
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(matches(headless.spec.selector, node.spec.template.metadata.labels)).toBe(true);
    expect(headless.spec.ports.map((p) => p.port)).toContain(Number(ge.PEER_PORT));
    expect(portNumber(gateway, headless.spec.ports[0].targetPort)).toBe(Number(ge.PEER_PORT));
    // one network namespace per pod: the two HTTP servers need their own ports
    expect(se.HTTP_PORT).not.toBe(ge.HTTP_PORT);
  });

  it('runs the peer plane with mutual TLS: each node pod gets its own certificate (swarmshare://node/<pod>) from the swarm CA through cert-manager', () => {
    const node = find('StatefulSet', 'swarmshare-node');
    const spec = podSpecOf(node)! as { containers: Container[]; volumes?: Array<{ name: string; csi?: { driver: string; readOnly?: boolean; volumeAttributes?: Record<string, string> } }> };
    const gateway = spec.containers.find((c) => roleOf(c) === 'peer-gateway')!;
    const ge = resolveEnv(gateway, podNameOf(node));
    expect(ge.PEER_TLS).toBe('on');
    const mount = gateway.volumeMounts!.find((m) => ge.PEER_TLS_CERT.startsWith(`${m.mountPath}/`))!;
    expect(mount.readOnly).toBe(true);
    for (const k of ['PEER_TLS_CA', 'PEER_TLS_CERT', 'PEER_TLS_KEY']) expect(ge[k].startsWith(`${mount.mountPath}/`)).toBe(true);
    // csi-driver's file names: ca.crt, tls.crt, tls.key
    expect([ge.PEER_TLS_CA, ge.PEER_TLS_CERT, ge.PEER_TLS_KEY].map((f) => f.slice(mount.mountPath.length + 1))).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    const vol = spec.volumes!.find((v) => v.name === mount.name)!;
    expect(vol.csi?.driver).toBe('csi.cert-manager.io');
    const attrs = vol.csi!.volumeAttributes!;
    expect(attrs['csi.cert-manager.io/uri-sans']).toBe('swarmshare://node/${POD_NAME}');
    expect(attrs['csi.cert-manager.io/key-usages']).toMatch(/server auth/);
    expect(attrs['csi.cert-manager.io/key-usages']).toMatch(/client auth/);
    // The issuer is a CA Issuer whose CA certificate is made here (isCA), so every pod shares one CA.
    const issuer = find('Issuer', attrs['csi.cert-manager.io/issuer-name']) as K8sObject & { spec: { ca?: { secretName: string } } };
    expect(attrs['csi.cert-manager.io/issuer-kind']).toBe('Issuer');
    const caCert = objects.find((o) => o.kind === 'Certificate' && (o.spec as { secretName: string }).secretName === issuer.spec.ca?.secretName) as K8sObject & { spec: { isCA?: boolean } };
    expect(caCert.spec.isCA).toBe(true);
    // The CLI's certificate: a cli-… identity from the same CA.
    const cli = find('Certificate', 'swarmshare-cli') as K8sObject & { spec: { uris: string[]; issuerRef: { name: string } } };
    expect(cli.spec.uris).toEqual([expect.stringMatching(/^swarmshare:\/\/node\/cli-/)]);
    expect(cli.spec.issuerRef.name).toBe(issuer.metadata.name);
  });

  it('serves the tracker\'s admin API over mutual TLS: a server certificate from the swarm CA for the names port-forward dials', () => {
    const tracker = find('Deployment', 'swarmshare-tracker');
    const spec = podSpecOf(tracker)! as { containers: Container[]; volumes?: Array<{ name: string; csi?: { driver: string; readOnly?: boolean; volumeAttributes?: Record<string, string> } }> };
    const c = spec.containers.find((x) => roleOf(x) === 'tracker')!;
    const env = resolveEnv(c, podNameOf(tracker));
    expect(env.GRPC_TLS).toBe('on');
    const mount = c.volumeMounts!.find((m) => env.GRPC_TLS_CERT.startsWith(`${m.mountPath}/`))!;
    expect(mount.readOnly).toBe(true);
    expect([env.GRPC_TLS_CA, env.GRPC_TLS_CERT, env.GRPC_TLS_KEY].map((f) => f.slice(mount.mountPath.length + 1))).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    const attrs = spec.volumes!.find((v) => v.name === mount.name)!.csi!.volumeAttributes!;
    // The same CA as the peers' (so the CLI's certificate swarmshare-cli-tls is a valid client).
    const peerCa = (podSpecOf(find('StatefulSet', 'swarmshare-node'))!.volumes ?? []).map((v) => (v as { csi?: { volumeAttributes?: Record<string, string> } }).csi?.volumeAttributes?.['csi.cert-manager.io/issuer-name']).find(Boolean);
    expect(attrs['csi.cert-manager.io/issuer-name']).toBe(peerCa);
    expect(attrs['csi.cert-manager.io/dns-names'].split(',')).toContain('localhost');
    expect(attrs['csi.cert-manager.io/ip-sans']).toBe('127.0.0.1');
    // A server certificate only: a stolen one logs in nowhere as a client.
    expect(attrs['csi.cert-manager.io/key-usages']).toMatch(/server auth/);
    expect(attrs['csi.cert-manager.io/key-usages']).not.toMatch(/client auth/);
  });

  it('probes readiness on /readyz and liveness on /healthz, on the port each service serves them', () => {
    for (const { w, c } of swarmContainers) {
      const where = `${w.metadata.name}/${c.name}`;
      const env = resolveEnv(c, podNameOf(w));
      const httpPort = Number(env.HTTP_PORT);
      expect(httpPort).toBeGreaterThan(0);
      if (roleOf(c) === 'tracker') {
        expect(c.ports?.find((p) => p.name === 'grpc')?.containerPort).toBe(Number(env.GRPC_PORT));
        expect(env.GRPC_HOST).toBe('0.0.0.0');
        expect(env.ADMIN_TOKEN.length).toBeGreaterThanOrEqual(16);
      }
      // Also the tracker's: kubelet's gRPC probe cannot pass the admin port's mutual TLS.
      expect({ where, readiness: c.readinessProbe?.httpGet?.path }).toEqual({ where, readiness: OBSERVABILITY_ROUTES.readiness });
      expect({ where, liveness: c.livenessProbe?.httpGet?.path }).toEqual({ where, liveness: OBSERVABILITY_ROUTES.liveness });
      for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        if (!probe || probe.grpc) continue;
        expect(Object.values(OBSERVABILITY_ROUTES) as string[]).toContain(probe.httpGet!.path);
        expect({ where, port: portNumber(c, probe.httpGet!.port) }).toEqual({ where, port: httpPort });
      }
    }
    // NATS and Redis have probes of their own
    for (const w of workloads) for (const c of podSpecOf(w)!.containers) expect({ c: c.name, r: !!c.readinessProbe, l: !!c.livenessProbe }).toEqual({ c: c.name, r: true, l: true });
  });

  it('gives every container resource requests and limits, and a non-root, read-only, capability-free security context', () => {
    for (const w of workloads) {
      const pod = podSpecOf(w)!;
      const psc = pod.securityContext ?? {};
      expect({ w: w.metadata.name, runAsNonRoot: psc.runAsNonRoot }).toEqual({ w: w.metadata.name, runAsNonRoot: true });
      expect(psc.runAsUser).toBeGreaterThan(0);
      expect(psc.seccompProfile).toEqual({ type: 'RuntimeDefault' });
      for (const c of pod.containers) {
        const where = `${w.metadata.name}/${c.name}`;
        for (const k of ['requests', 'limits'] as const) {
          expect({ where, k, cpu: !!c.resources?.[k]?.cpu, memory: !!c.resources?.[k]?.memory }).toEqual({ where, k, cpu: true, memory: true });
        }
        const sc = c.securityContext ?? {};
        expect({ where, sc: { runAsNonRoot: sc.runAsNonRoot, allowPrivilegeEscalation: sc.allowPrivilegeEscalation, readOnlyRootFilesystem: sc.readOnlyRootFilesystem, drop: sc.capabilities?.drop, add: sc.capabilities?.add } }).toEqual({
          where,
          sc: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, drop: ['ALL'], add: undefined },
        });
        expect(sc.privileged).toBeUndefined();
      }
    }
  });

  it('has a PodDisruptionBudget for the tracker, the nodes and NATS, each selecting its pods', () => {
    const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget') as Array<K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; minAvailable?: number; maxUnavailable?: number } }>;
    for (const [kind, name] of [['Deployment', 'swarmshare-tracker'], ['StatefulSet', 'swarmshare-node'], ['StatefulSet', 'swarmshare-nats']] as const) {
      const w = find(kind, name) as K8sObject & { spec: { replicas: number; template: { metadata: { labels: Record<string, string> } } } };
      const covering = pdbs.filter((p) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels));
      expect({ name, pdbs: covering.length }).toEqual({ name, pdbs: 1 });
      const allowed = covering[0].spec.maxUnavailable ?? w.spec.replicas - (covering[0].spec.minAvailable ?? 0);
      // the budget lets at least one pod go (drains finish) and keeps at least one running
      expect(allowed).toBeGreaterThanOrEqual(1);
      expect(allowed).toBeLessThan(w.spec.replicas);
    }
  });
});
