// node bench/cpu-profile-top.js FILE.cpuprofile [N]: self time of the top N frames of a V8 CPU profile.
const p = JSON.parse(require('fs').readFileSync(process.argv[2]));
const self = new Map(); const byId = new Map(p.nodes.map(n => [n.id, n]));
const dt = {}; for (let i = 0; i < p.samples.length; i++) dt[p.samples[i]] = (dt[p.samples[i]] || 0) + (p.timeDeltas[i] || 0);
let total = 0;
for (const n of p.nodes) { const t = (dt[n.id] || 0) / 1000; total += t; const cf = n.callFrame; const k = `${cf.functionName || '(anon)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber}`; self.set(k, (self.get(k) || 0) + t); }
const idle = (self.get('(idle) :-1') || 0);
console.log(process.argv[2].split('/').pop(), 'total ms', total.toFixed(0), 'busy ms', (total - idle).toFixed(0));
[...self].sort((a, b) => b[1] - a[1]).slice(0, +process.argv[3] || 12).forEach(([k, v]) => console.log('  ', v.toFixed(0).padStart(6), k));
