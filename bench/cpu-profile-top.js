// node bench/cpu-profile-top.js FILE.cpuprofile... [--top N] [--callers FRAME [--depth D]]
// Self time of the top N frames (default 12), summed over every profile given (for instance all
// the gateways of a bench:fleet --profile run: DIR/peer-gateway-*.cpuprofile). With --callers,
// the time under each frame whose name starts with FRAME, grouped by its D callers (default 5).
const { readFileSync } = require('node:fs');

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? fallback : args.splice(i, 2)[1];
};
const callersOf = opt('callers', undefined);
const depth = Number(opt('depth', '5'));
const top = Number(opt('top', '12'));
const files = args;
if (files.length === 0) {
  console.error('usage: node bench/cpu-profile-top.js FILE.cpuprofile... [--top N] [--callers FRAME [--depth D]]');
  process.exit(2);
}

const frameName = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber}`;
const sums = new Map();
let busy = 0;
let idle = 0;
for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfMs = new Map();
  for (let i = 0; i < p.samples.length; i++) selfMs.set(p.samples[i], (selfMs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  for (const n of p.nodes) {
    const t = selfMs.get(n.id) ?? 0;
    if (frameName(n).startsWith('(idle)')) idle += t;
    else busy += t;
  }
  if (!callersOf) {
    for (const n of p.nodes) if (!frameName(n).startsWith('(idle)')) sums.set(frameName(n), (sums.get(frameName(n)) ?? 0) + (selfMs.get(n.id) ?? 0));
    continue;
  }
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const under = (id) => (selfMs.get(id) ?? 0) + (byId.get(id).children ?? []).reduce((a, c) => a + under(c), 0);
  const matches = (id) => frameName(byId.get(id)).startsWith(callersOf);
  for (const n of p.nodes) {
    if (!matches(n.id)) continue;
    // Under an outer match (recursion, or a prefix matching both), its time is already counted there.
    let outer = false;
    for (let id = parent.get(n.id); id !== undefined && !outer; id = parent.get(id)) outer = matches(id);
    if (outer) continue;
    const chain = [];
    for (let id = parent.get(n.id); id !== undefined && chain.length < depth; id = parent.get(id)) chain.push(frameName(byId.get(id)));
    const key = chain.join(' < ') || '(root)';
    sums.set(key, (sums.get(key) ?? 0) + under(n.id));
  }
}

console.log(`${files.length} profile(s): busy ${busy.toFixed(0)} ms, idle ${idle.toFixed(0)} ms${callersOf ? `; time under ${callersOf}, by its callers` : ''}`);
for (const [k, v] of [...sums].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${v.toFixed(0).padStart(7)} ${k}`);
