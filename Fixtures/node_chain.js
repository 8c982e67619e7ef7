// A Node program with known JavaScript stacks, for the JIT perf-map tests.
//
//   node --perf-basic-prof --interpreted-frames-native-stack --no-turbo-inlining \
//        node_chain.js single SECONDS
//       main -> handleRequest -> parse -> hotLoop (3 requests of 4)
//                                      -> coldLoop (1 of 4), the same work each
//   node ... node_chain.js late SECONDS DELAY
//       warmUp -> spinWarm for DELAY seconds, then lateStart -> lateLoop: code
//       first compiled (and written to the perf map) DELAY seconds after start
//
// --no-turbo-inlining keeps each function its own frame once optimised;
// --interpreted-frames-native-stack gives interpreted ones a named copy of the
// interpreter entry, so they are named before they are optimised too.
'use strict';

const WORK = 200000;

function hotLoop(n) {
  let total = 0;
  for (let i = 0; i < n; i++) total += (i * i) % 7;
  return total;
}

function coldLoop(n) {
  let total = 0;
  for (let i = 0; i < n; i++) total += (i * i) % 7;
  return total;
}

function parse(k) {
  return k % 4 === 3 ? coldLoop(WORK) : hotLoop(WORK);
}

function handleRequest(k) {
  return parse(k);
}

function main(seconds) {
  const deadline = Date.now() + seconds * 1000;
  let k = 0, sum = 0;
  while (Date.now() < deadline) sum += handleRequest(k++);
  return sum;
}

function spinWarm(n) {
  let total = 0;
  for (let i = 0; i < n; i++) total += (i * i) % 5;
  return total;
}

function warmUp(until) {
  let sum = 0;
  while (Date.now() < until) sum += spinWarm(WORK);
  return sum;
}

function late(seconds, delay) {
  const start = Date.now();
  warmUp(start + delay * 1000);
  // Defined only now: its code did not exist (nor its perf map lines) before.
  const lateStart = new Function('until', 'WORK', `
    function lateLoop(n) {
      let total = 0;
      for (let i = 0; i < n; i++) total += (i * i) % 3;
      return total;
    }
    let sum = 0;
    while (Date.now() < until) sum += lateLoop(WORK);
    return sum;
  //# sourceURL=late.js
  `);
  return lateStart(start + seconds * 1000, WORK);
}

const [mode = 'single', seconds = '10', delay = '3'] = process.argv.slice(2);
if (mode === 'late') late(Number(seconds), Number(delay));
else main(Number(seconds));
