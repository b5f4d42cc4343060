#!/usr/bin/env node
// Container health check without curl: GET http://127.0.0.1:$HTTP_PORT<path> must answer 200.
//   node /app/docker/healthcheck.js /healthz    (liveness; the image's HEALTHCHECK)
//   node /app/docker/healthcheck.js /readyz     (readiness; what docker-compose.yml waits for)
'use strict';
const http = require('node:http');

const path = process.argv[2] || '/healthz';
const raw = process.env.HTTP_PORT === undefined || process.env.HTTP_PORT === '' ? '8080' : process.env.HTTP_PORT;
const port = Number(raw);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write(`healthcheck: HTTP_PORT=${JSON.stringify(raw)} serves no health endpoint (set it to a port > 0)\n`);
  process.exit(1);
}
const req = http.get({ host: '127.0.0.1', port, path, timeout: 4000 }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (c) => (body += c));
  res.on('end', () => {
    const ok = res.statusCode === 200;
    (ok ? process.stdout : process.stderr).write(`healthcheck: GET ${path} -> ${res.statusCode} ${body.slice(0, 500)}\n`);
    process.exit(ok ? 0 : 1);
  });
});
req.on('timeout', () => req.destroy(new Error('timed out after 4000 ms')));
req.on('error', (e) => {
  process.stderr.write(`healthcheck: GET ${path} on 127.0.0.1:${port} failed: ${e.message}\n`);
  process.exit(1);
});
