// Round-trip latency of calls into a JavaScript enclave — callSync (Atomics, the host thread
// blocks), call (async, on the event loop), and a callSync whose entry makes one host call —
// against a direct function call and a plain worker postMessage round trip, in one run.
// Usage: node --import tsx bench/js-enclave.ts [--calls N]   (after `npm run build`)
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { launchJsEnclave } from '../src/host/js-enclave.ts';
import { printTable } from './lib.ts';

const arg = process.argv.indexOf('--calls');
const CALLS = arg > 0 ? Number(process.argv[arg + 1]) : 20_000;
const APP = `
const { host } = require('cloister:enclave');
exports.add = (a, b) => a + b;
exports.addAsync = async (a, b) => a + b;
exports.viaHost = (a) => host.call('inc', Uint8Array.of(a))[0];
`;

async function usPerAsync(fn: () => Promise<unknown>, count: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await fn();
  return Number(process.hrtime.bigint() - start) / count / 1000;
}

function usPer(fn: () => unknown, count: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) fn();
  return Number(process.hrtime.bigint() - start) / count / 1000;
}

const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-js-'));
const enclave = await launchJsEnclave({
  appBundle: APP,
  platformPath: join(dir, 'sim-platform.json'),
  hostHandlers: { inc: (d) => Uint8Array.of(d[0] + 1) },
});
const echo = new Worker(
  `require('node:worker_threads').parentPort.on('message', function (m) { this.postMessage(m.a + m.b); });`,
  {
    eval: true,
  },
);
const postRoundTrip = (): Promise<unknown> =>
  new Promise((resolve) => {
    echo.once('message', resolve);
    echo.postMessage({ a: 1, b: 2 });
  });
const direct = (a: number, b: number): number => a + b;

try {
  let sink = 0;
  for (let round = 0; round < 2; round++) {
    // The first round warms up both sides; only the second is printed.
    const directUs = usPer(() => (sink += direct(1, 2)), CALLS * 10);
    const postUs = await usPerAsync(postRoundTrip, CALLS);
    const syncUs = usPer(() => enclave.callSync('add', [1, 2]), CALLS);
    const asyncUs = await usPerAsync(() => enclave.call('add', [1, 2]), CALLS);
    const asyncEntryUs = usPer(() => enclave.callSync('addAsync', [1, 2]), CALLS);
    const hostUs = usPer(() => enclave.callSync('viaHost', [1]), CALLS);
    if (round === 0) continue;
    const row = (name: string, us: number): (string | number)[] => [name, us, us / directUs, us / postUs];
    printTable(
      `JavaScript enclave calls (${CALLS} each, µs per round trip; sim backend, this machine)`,
      ['call', 'µs', 'x direct call', 'x postMessage round trip'],
      [
        row('direct function call', directUs),
        row('worker postMessage round trip', postUs),
        row('enclave callSync', syncUs),
        row('enclave call (async)', asyncUs),
        row('enclave callSync of an async entry', asyncEntryUs),
        row('enclave callSync + 1 host call inside', hostUs),
      ],
    );
  }
  if (sink === 0) console.log('');
} finally {
  await Promise.all([enclave.close(), echo.terminate()]);
  rmSync(dir, { recursive: true, force: true });
}
