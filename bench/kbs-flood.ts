// A legitimate enclave's full RCAR flow (auth, attest with a sim quote, resource) against
// `cloister kbs serve` in its own process, alone and while 8 kept-alive connections from 127.0.0.2
// send 10 000 unauthenticated `auth` requests. Bounded: each phase stops at its count or 60 s.
import { Agent, request } from 'node:http';
import { KbsClient } from '../src/enclave/kbs/client.ts';
import { median, printTable } from './lib.ts';
import { startSimBroker } from './sim-broker.ts';

const FLOOD = 10_000;

const { url, quoteFor, stop } = await startSimBroker('kbs-flood');

const body = JSON.stringify({ version: '0.4.0', tee: 'sgx', 'extra-params': {} });
const { hostname, port } = new URL(url);
const auth = (agent: Agent): Promise<number> =>
  new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        method: 'POST',
        path: '/kbs/v0/auth',
        agent,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });

/** Full flows, one at a time, until `stop()` says so (or 60 s); latencies and failures. */
async function flows(stop: () => boolean): Promise<{ ms: number[]; failed: number }> {
  const ms: number[] = [];
  let failed = 0;
  const deadline = performance.now() + 60_000;
  while (!stop() && performance.now() < deadline) {
    const t = performance.now();
    const client = new KbsClient({
      url,
      fetch: (u, i) => fetch(u, i),
      evidence: quoteFor,
    });
    try {
      const got = await client.getResource('default/disk/app');
      if (got[0] !== 7) throw new Error('wrong secret');
      ms.push(performance.now() - t);
    } catch {
      failed++;
    }
  }
  return { ms, failed };
}

const p99 = (v: number[]): number =>
  [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(v.length * 0.99))];

try {
  let n = 0;
  await flows(() => ++n > 30); // warm-up
  n = 0;
  const alone = await flows(() => ++n > 200);

  const agent = new Agent({ keepAlive: true, maxSockets: 8, localAddress: '127.0.0.2' });
  let sent = 0;
  let refused = 0;
  const start = performance.now();
  const floodDeadline = start + 60_000;
  const flood = Promise.all(
    Array.from({ length: 8 }, async () => {
      while (sent < FLOOD && performance.now() < floodDeadline) {
        sent++;
        if ((await auth(agent)) !== 200) refused++;
      }
    }),
  ).then(() => performance.now() - start);
  let floodDone = false;
  void flood.then(() => (floodDone = true));
  const during = await flows(() => floodDone);
  const floodMs = await flood;
  agent.destroy();

  printTable(
    'legitimate full RCAR flows against cloister kbs serve (own process), loopback',
    ['what', 'flows', 'failed', 'p50 ms', 'p99 ms'],
    [
      ['alone', alone.ms.length, alone.failed, median(alone.ms), p99(alone.ms)],
      [`during the flood`, during.ms.length, during.failed, median(during.ms), p99(during.ms)],
    ],
  );
  console.log(
    `\nflood: ${sent} unauthenticated auth requests in ${(floodMs / 1000).toFixed(1)} s ` +
      `(${Math.round(sent / (floodMs / 1000))}/s), ${refused} refused; ` +
      `legitimate p50 during / alone: ${(median(during.ms) / median(alone.ms)).toFixed(2)}`,
  );
} finally {
  await stop();
}
