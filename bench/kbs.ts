// KBS resource releases per second with 50 concurrent clients on loopback, against `cloister kbs serve`
// in its own process (so client-side quoting and decryption do not share its core), next to the
// in-process ceilings of its two costly steps. Evidence comes from a sim platform of its own (EREPORT
// to the sim quoting enclave, which quotes it), trusted with --trust-sim-root. Bounded: each phase
// stops at its count or its time limit, whichever comes first.
import { FlattenedEncrypt, exportJWK, generateKeyPair, importJWK } from 'jose';
import { verifyDcapCollateral } from '../src/attestation/dcap-collateral.ts';
import { runtimeDataReportData } from '../src/interface/kbs/binding.ts';
import { KbsClient } from '../src/enclave/kbs/client.ts';
import { dcapEvidenceVerifier } from '../src/attestation/evidence.ts';
import { simCollateral } from '../src/tee/sim/quoting.ts';
import { median, printTable } from './lib.ts';
import { SECRET, loopbackFetch, startSimBroker } from './sim-broker.ts';

const CLIENTS = 50;

interface Phase {
  count: number;
  seconds: number;
  latencies: number[];
}

/** Runs `op` from `workers` concurrent loops until `maxCount` operations or `maxSeconds` have passed. */
async function drive(
  workers: number,
  maxCount: number,
  maxSeconds: number,
  op: (worker: number) => Promise<void>,
): Promise<Phase> {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + maxSeconds * 1000;
  let started = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (started < maxCount && performance.now() < deadline) {
        started++;
        const t = performance.now();
        await op(w);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { count: latencies.length, seconds: (performance.now() - start) / 1000, latencies };
}

const p99 = (v: number[]): number =>
  [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(v.length * 0.99))];
const row = (name: string, p: Phase): (string | number)[] => [
  name,
  p.count,
  p.seconds,
  p.count / p.seconds,
  median(p.latencies),
  p99(p.latencies),
];

const { url, platform, quoteFor, stop } = await startSimBroker('kbs');

try {
  // Worker w connects from 127.0.0.(1 + w % 4): under the broker's 32 pending sessions per address.
  const fetches = [1, 2, 3, 4].map(loopbackFetch);
  const newClient = (w: number): KbsClient =>
    new KbsClient({ url, fetch: fetches[w % fetches.length], evidence: quoteFor });
  const check = (bytes: Uint8Array): void => {
    if (bytes.length !== SECRET.length || bytes[0] !== 7) throw new Error('wrong secret released');
  };

  // Warm-up: both processes JIT the paths once.
  await drive(CLIENTS, 200, 10, async (w) => check(await newClient(w).getResource('default/disk/app')));

  const clients = Array.from({ length: CLIENTS }, (_, w) => newClient(w));
  await Promise.all(clients.map((c) => c.attest()));
  const sessions = await drive(CLIENTS, 20_000, 10, async (w) =>
    check(await clients[w].getResource('default/disk/app')),
  );
  const full = await drive(CLIENTS, 3_000, 10, async (w) =>
    check(await newClient(w).getResource('default/disk/app')),
  );

  // In-process ceilings, one core: the KBS's JWE encryption, and its quote verification (cached collateral).
  const { publicKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256' });
  const jwk = await exportJWK(publicKey);
  const jwe = await drive(1, 20_000, 3, async () => {
    await new FlattenedEncrypt(SECRET)
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM' })
      .encrypt(await importJWK(jwk, 'ECDH-ES+A256KW'));
  });
  const reportData = runtimeDataReportData({ nonce: 'n', 'tee-pubkey': jwk as Record<string, unknown> });
  const quote = quoteFor(reportData);
  const root = platform.rootCertificateDer;
  const collateral = await verifyDcapCollateral(await simCollateral(platform), { trustedRoot: root });
  const verifier = dcapEvidenceVerifier({ collateral, trustedRoot: root });
  const verify = await drive(1, 5_000, 3, async () => void (await verifier(quote, reportData)));

  printTable(
    `KBS on loopback, ${CLIENTS} concurrent clients (server: cloister kbs serve, its own process)`,
    ['what', 'ops', 's', 'ops/s', 'p50 ms', 'p99 ms'],
    [
      row('resource release, attested session (cookie)', sessions),
      row('full RCAR per release (auth+attest+get)', full),
      row('ceiling: JWE ECDH-ES+A256KW encrypt, 1 core', jwe),
      row('ceiling: DCAP quote verify (cached), 1 core', verify),
    ],
  );
  console.log(
    `\nrelease throughput: ${(sessions.count / sessions.seconds / (jwe.count / jwe.seconds)).toFixed(2)} of the JWE ceiling; ` +
      `full RCAR: ${(full.count / full.seconds / (verify.count / verify.seconds)).toFixed(2)} of the verify ceiling`,
  );
} finally {
  await stop();
}
