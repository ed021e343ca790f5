// KBS resource releases per second with 50 concurrent clients on loopback, against `cloister kbs serve`
// in its own process (so client-side quoting and decryption do not share its core), next to the
// in-process ceilings of its two costly steps. Evidence comes from a sim platform of its own (EREPORT
// to the sim quoting enclave, which quotes it), trusted with --trust-sim-root. Bounded: each phase
// stops at its count or its time limit, whichever comes first.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlattenedEncrypt, exportJWK, generateKeyPair, importJWK } from 'jose';
import { verifyDcapCollateral } from '../src/attestation/dcap-collateral.ts';
import { SgxAttributeFlags } from '../src/attestation/report-body.ts';
import { runtimeDataReportData } from '../src/interface/kbs/binding.ts';
import { KbsClient } from '../src/enclave/kbs/client.ts';
import { dcapEvidenceVerifier } from '../src/attestation/evidence.ts';
import { KbsStore } from '../src/kbs/store.ts';
import { SimPlatform } from '../src/tee/sim/platform.ts';
import type { EnclaveIdentity } from '../src/tee/sim/platform.ts';
import { SimQuotingEnclave, simCollateral } from '../src/tee/sim/quoting.ts';
import { median, printTable } from './lib.ts';

const CLIENTS = 50;
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-kbs-'));
const file = (name: string): string => join(dir, name);
const secret = new Uint8Array(64).fill(7);

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

const platform = await SimPlatform.open({ path: file('sim-platform.json') });
const qe = new SimQuotingEnclave(platform);
const app: EnclaveIdentity = {
  mrenclave: new Uint8Array(32).fill(0x11),
  mrsigner: new Uint8Array(32).fill(0x22),
  isvprodid: 1,
  isvsvn: 1,
  attributes: { flags: SgxAttributeFlags.INIT | SgxAttributeFlags.MODE64BIT, xfrm: 3n },
  miscselect: 0,
};
const quoteFor = (reportData: Uint8Array): Uint8Array =>
  qe.quote(platform.ereport(app, qe.targetInfo(), reportData));
writeFileSync(file('policy.json'), JSON.stringify({ mrenclave: ['11'.repeat(32)] }));
const store = await KbsStore.open({ file: file('kbs.sqlite') });
store.put('default/disk/app', secret);
store.close();

const server = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    main,
    'kbs',
    'serve',
    '--db',
    file('kbs.sqlite'),
    '--policy',
    file('policy.json'),
    '--trust-sim-root',
    '--port',
    '0',
  ],
  {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, CLOISTER_SIM_PLATFORM: file('sim-platform.json') },
  },
);
const url = await new Promise<string>((resolve, reject) => {
  let text = '';
  const timer = setTimeout(() => reject(new Error(`kbs serve did not start: ${text}`)), 60_000);
  server.stderr.on('data', (d: Buffer) => {
    if (text.length < 10_000) text += d.toString(); // then keep draining the release log unread
    const m = /listening on (\S+)/.exec(text);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  server.once('exit', (code) => reject(new Error(`kbs serve exited ${code}: ${text}`)));
});

try {
  const newClient = (): KbsClient =>
    new KbsClient({
      url,
      fetch: (u, i) => fetch(u, i),
      evidence: quoteFor,
    });
  const check = (bytes: Uint8Array): void => {
    if (bytes.length !== secret.length || bytes[0] !== 7) throw new Error('wrong secret released');
  };

  // Warm-up: both processes JIT the paths once.
  await drive(CLIENTS, 200, 10, async () => check(await newClient().getResource('default/disk/app')));

  const clients = Array.from({ length: CLIENTS }, newClient);
  await Promise.all(clients.map((c) => c.attest()));
  const sessions = await drive(CLIENTS, 20_000, 10, async (w) =>
    check(await clients[w].getResource('default/disk/app')),
  );
  const full = await drive(CLIENTS, 3_000, 10, async () =>
    check(await newClient().getResource('default/disk/app')),
  );

  // In-process ceilings, one core: the KBS's JWE encryption, and its quote verification (cached collateral).
  const { publicKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256' });
  const jwk = await exportJWK(publicKey);
  const jwe = await drive(1, 20_000, 3, async () => {
    await new FlattenedEncrypt(secret)
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
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
}
