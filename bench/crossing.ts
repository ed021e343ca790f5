/**
 * Where the time of one crossing into a JavaScript enclave goes. In one process: a plain
 * in-process call; a bare SharedArrayBuffer + Atomics ping-pong with a second thread (both sides
 * spinning, both parked in `Atomics.wait`, the far side parked on its event loop with
 * `Atomics.waitAsync`); the value codec alone; and the enclave's own calls — `callSync`, `call`,
 * an async entry (as the partitioner's are), and entries that make one host call (exit) to a
 * synchronous and to an async host handler. Each enclave row is run back to back and again with
 * `--gap` µs of host work between calls, as a partitioned application does between its crossings
 * (the spin windows then matter). µs per round trip, median of `--rounds` rounds, with ratios
 * against the direct call and the bare parked ping-pong.
 *
 *   node --import tsx bench/crossing.ts [--calls 2000] [--gap 40] [--rounds 3]   (after `npm run build`)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { decodeValue, encodeValue } from '../src/interface/js-enclave-codec.ts';
import { launchJsEnclave } from '../src/host/js-enclave.ts';
import { loadNote, median, printTable } from './lib.ts';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}
const CALLS = option('--calls', 2000);
const GAP_US = option('--gap', 40);
const ROUNDS = option('--rounds', 3);

const APP = `
const { host } = require('cloister:enclave');
const { randomBytes } = require('node:crypto');
exports.add = (a, b) => a + b;
exports.addAsync = async (a, b) => a + b;
// As oauth2-server's generateRandomToken: a callback on a later turn of the enclave's event loop.
exports.randomAsync = () => new Promise((resolve) => randomBytes(32, (_e, b) => resolve(b.length)));
exports.exitSync = (a) => host.call('inc', Uint8Array.of(a))[0];
exports.exitAsync = async (a) => host.call('incLater', Uint8Array.of(a))[0];
`;

/** A request of the shape the partitioner's stubs send: an entry name and a small argument object. */
const TYPICAL = [
  'TokenHandler.getClient',
  { receiver: { handle: 21, fields: { a: 1 } }, args: [{ grantType: 'password' }] },
];

/** The far side of the bare ping-pong: answers each store in `mode` ('spin' | 'wait' | 'async'). */
const PONG = `
const { workerData, parentPort } = require('node:worker_threads');
// Atomics.waitAsync alone does not keep a Worker alive.
parentPort.on('message', () => {});
const { flag, mode } = workerData;
const a = new Int32Array(flag);
// a[0]: 1 = ping waiting for the far side, 2 = pong answered; a[1]: main parked.
async function loop() {
  for (;;) {
    if (mode === 'spin') while (Atomics.load(a, 0) === 2) {}
    else if (mode === 'wait') Atomics.wait(a, 0, 2);
    else { const w = Atomics.waitAsync(a, 0, 2); if (w.async) await w.value; }
    if (Atomics.load(a, 0) === 3) return;
    if (Atomics.load(a, 0) !== 1) continue;
    Atomics.store(a, 0, 2);
    if (mode !== 'spin') Atomics.notify(a, 0);
  }
}
loop();
`;

async function pingPong(mode: 'spin' | 'wait' | 'async', count: number): Promise<number> {
  const flag = new SharedArrayBuffer(8);
  const a = new Int32Array(flag);
  a[0] = 2;
  const worker = new Worker(PONG, { eval: true, workerData: { flag, mode } });
  await new Promise((resolve) => worker.once('online', resolve));
  const one = (): void => {
    Atomics.store(a, 0, 1);
    if (mode !== 'spin') Atomics.notify(a, 0);
    while (Atomics.load(a, 0) !== 2) if (mode !== 'spin') Atomics.wait(a, 0, 1, 100);
  };
  for (let i = 0; i < 200; i++) one();
  const us = usPer(one, count);
  Atomics.store(a, 0, 3);
  Atomics.notify(a, 0);
  await worker.terminate();
  return us;
}

function busy(us: number): void {
  const until = performance.now() + us / 1000;
  while (performance.now() < until);
}

function usPer(fn: () => unknown, count: number, gapUs = 0): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    fn();
    if (gapUs > 0) busy(gapUs);
  }
  return Number(process.hrtime.bigint() - start) / count / 1000 - gapUs;
}

async function usPerAsync(fn: () => Promise<unknown>, count: number, gapUs = 0): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    await fn();
    if (gapUs > 0) busy(gapUs);
  }
  return Number(process.hrtime.bigint() - start) / count / 1000 - gapUs;
}

const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-crossing-'));
const enclave = await launchJsEnclave({
  appBundle: APP,
  platformPath: join(dir, 'sim-platform.json'),
  hostHandlers: {
    inc: (d) => Uint8Array.of(d[0] + 1),
    incLater: async (d) => Uint8Array.of(d[0] + 1),
  },
});

type Row = [string, () => Promise<number>];
const direct = (a: number, b: number): number => a + b;
let sink = 0;
const rows: Row[] = [
  ['direct function call', async () => usPer(() => (sink += direct(1, 2)), CALLS * 100)],
  [
    'codec: encode + decode a typical request',
    async () => usPer(() => decodeValue(encodeValue(TYPICAL, 1 << 20)), CALLS),
  ],
  ['bare Atomics ping-pong, both spin', () => pingPong('spin', CALLS)],
  ['bare Atomics ping-pong, both park (wait)', () => pingPong('wait', CALLS)],
  ['bare ping-pong, far side parks on its loop (waitAsync)', () => pingPong('async', CALLS)],
];
for (const gap of [0, GAP_US]) {
  const with_ = gap ? ` (${gap} µs host work between)` : '';
  rows.push(
    [`callSync, sync entry${with_}`, async () => usPer(() => enclave.callSync('add', [1, 2]), CALLS, gap)],
    [`call, sync entry${with_}`, () => usPerAsync(() => enclave.call('add', [1, 2]), CALLS, gap)],
    [`call, async entry${with_}`, () => usPerAsync(() => enclave.call('addAsync', [1, 2]), CALLS, gap)],
    [
      `call, entry awaiting a later turn${with_}`,
      () => usPerAsync(() => enclave.call('randomAsync', []), CALLS, gap),
    ],
    [
      `callSync, entry + 1 exit (sync handler)${with_}`,
      async () => usPer(() => enclave.callSync('exitSync', [1]), CALLS, gap),
    ],
    [
      `call, entry + 1 exit (sync handler)${with_}`,
      () => usPerAsync(() => enclave.call('exitSync', [1]), CALLS, gap),
    ],
    [
      `call, entry + 1 exit (async handler)${with_}`,
      () => usPerAsync(() => enclave.call('exitAsync', [1]), CALLS, gap),
    ],
  );
}

try {
  const samples = new Map<string, number[]>();
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, run] of rows) {
      const us = await run();
      // Round 0 warms both sides up and is not counted.
      if (round > 0) samples.set(name, [...(samples.get(name) ?? []), us]);
    }
  }
  const us = (name: string): number => median(samples.get(name) ?? []);
  const directUs = us(rows[0][0]);
  const parkedUs = us('bare Atomics ping-pong, both park (wait)');
  printTable(
    `One crossing, µs per round trip (median of ${ROUNDS} rounds of ${CALLS}; sim backend); ${loadNote()}`,
    ['round trip', 'µs', 'x direct call', 'x bare parked ping-pong'],
    rows.map(([name]) => [name, us(name), us(name) / directUs, us(name) / parkedUs]),
  );
  if (sink === 0) console.log('');
} finally {
  await enclave.close();
  rmSync(dir, { recursive: true, force: true });
}
