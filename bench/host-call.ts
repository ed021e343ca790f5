// Host-call round trip through the ring (one outstanding, and many posted then drained) against a
// direct synchronous call in the same thread; whether an idle enclave keeps a core busy; and the
// start-up time of a hello-world program under Cloister and under node:wasi (alternating runs),
// against issue 9's goal.
// Usage: node --import tsx bench/host-call.ts [--starts N]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import wabtFactory from 'wabt';
import { Calls } from '../src/interface/calls.ts';
import { createRingBuffer, viewRing } from '../src/interface/ring.ts';
import { HostChannel } from '../src/enclave/ring/channel.ts';
import { startTsWorker } from '../test/helpers/ts-worker.ts';
import { parseArgs } from 'node:util';
import { cli, loadNote, median, nodeWasiRunner, printGoals, printTable, timeNode } from './lib.ts';

const CALLS = 200_000;
const { values } = parseArgs({ options: { starts: { type: 'string', default: '15' } } });
const startRuns = Number(values.starts);
const loadBefore = loadNote();

function nsPer(fn: () => void, count: number): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / count;
}

const ring = createRingBuffer();
const server = startTsWorker(new URL('./host-call-server.ts', import.meta.url), { workerData: { ring } });
const channel = new HostChannel(viewRing(ring));
channel.call(Calls.clockSync, [0n]); // the server is up

let sink = 0n;
const direct = (x: bigint): bigint => x + 1n;
const rows: (string | number)[][] = [];
for (let round = 0; round < 2; round++) {
  const directNs = nsPer(() => {
    for (let i = 0; i < CALLS; i++) sink += direct(BigInt(i & 1));
  }, CALLS);
  const syncNs = nsPer(() => {
    for (let i = 0; i < CALLS; i++) sink += channel.call(Calls.clockSync, [0n]).result;
  }, CALLS);
  const postedNs = nsPer(() => {
    for (let i = 0; i < CALLS; i++) channel.post(Calls.clockSync, [0n]);
    channel.drain();
  }, CALLS);
  if (round === 1) {
    rows.push(['direct synchronous call', directNs, 1]);
    rows.push(['ring, one outstanding (call)', syncNs, syncNs / directNs]);
    rows.push(['ring, 16 outstanding (posted, drained)', postedNs, postedNs / directNs]);
  }
}

// Idle: after the spin window, both threads should be parked.
await new Promise((r) => setTimeout(r, 100));
const before = process.cpuUsage();
const idleStart = performance.now();
await new Promise((r) => setTimeout(r, 1000));
const idle = process.cpuUsage(before);
const idleCpu = (idle.user + idle.system) / 1000 / (performance.now() - idleStart);
channel.call(Calls.exit, [0n, 0n]);
await server.terminate();

printTable(
  `host-call round trip, ${CALLS} calls per row (second round); ${loadBefore}`,
  ['path', 'ns per call', 'ratio to direct'],
  rows,
);
console.log(
  `\nCPU use of the whole process while the enclave idles for 1 s: ${(idleCpu * 100).toFixed(1)} % of one core`,
);

const wabt = await wabtFactory();
const hello = wabt.parseWat(
  'hello.wat',
  `(module
    (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 64) "hello, world\\n")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 13))
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`,
);
const helloPath = join(tmpdir(), 'cloister-bench-hello.wasm');
writeFileSync(helloPath, hello.toBinary({}).buffer);
const starts = { cloister: [] as number[], peer: [] as number[] };
// One warm-up of each (file cache), then alternating runs.
timeNode([cli, 'run', helloPath]);
timeNode([nodeWasiRunner, helloPath]);
for (let i = 0; i < startRuns; i++) {
  starts.cloister.push(timeNode([cli, 'run', helloPath]).wallMs);
  starts.peer.push(timeNode([nodeWasiRunner, helloPath]).wallMs);
}
const [c, p] = [median(starts.cloister), median(starts.peer)];
printTable(
  `start-up of hello world, whole process, median of ${startRuns} alternating runs (ms); ${loadNote()}`,
  ['runtime', 'ms', 'ratio'],
  [
    ['node:wasi', p, 1],
    ['cloister run', c, c / p],
  ],
);
printGoals('goal of issue 9', [
  { measure: 'hello-world start-up, whole process (ratio)', value: c / p, atMost: 1.5 },
]);
if (sink === 42n) console.log('');
