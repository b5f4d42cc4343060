// Loaded with NODE_OPTIONS=--require (which refuses --cpu-prof): starts the V8 CPU profiler in a
// service and writes <service>-<pid>.cpuprofile into $PROF_DIR when it exits. Used by --profile.
const inspector = require('node:inspector');
const fs = require('node:fs');
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 1000 }, () => session.post('Profiler.start')));
let done = false;
function dump() {
  if (done) return;
  done = true;
  session.post('Profiler.stop', (err, res) => {
    if (err) return;
    const service = process.argv[1].split('/').slice(-3, -2)[0];
    fs.writeFileSync(`${process.env.PROF_DIR}/${service}-${process.pid}.cpuprofile`, JSON.stringify(res.profile));
  });
}
for (const sig of ['SIGTERM', 'SIGINT']) process.prependListener(sig, dump);
process.on('exit', dump);
