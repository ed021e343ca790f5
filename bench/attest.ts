// Attestation on one core. First the sim platform: an enclave REPORT turned into a DCAP quote by
// the sim quoting enclave, verified with the collateral checked per quote or checked once and cached.
// Then the real SGX quote of the shared vectors (@phala/dcap-qvl's sample, its collateral, Intel's
// root, time pinned inside the collateral's window): Cloister's verifier against @phala/dcap-qvl on
// the same bytes, both given the raw collateral on every call, in interleaved rounds.
// Usage: node --import tsx bench/attest.ts [--seconds 3] [--rounds 3] [--vectors DIR]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyDcapCollateral } from '../src/attestation/dcap-collateral.ts';
import { clearMemos } from '../src/attestation/memo.ts';
import { verifyDcapQuote } from '../src/attestation/verify-dcap.ts';
import { SimPlatform, type EnclaveIdentity } from '../src/tee/sim/platform.ts';
import { SimQuotingEnclave, simCollateral } from '../src/tee/sim/quoting.ts';
import { median, printTable } from './lib.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const seconds = Number(arg('--seconds') ?? 3);
const rounds = Number(arg('--rounds') ?? 3);
const vectors =
  arg('--vectors') ??
  process.env.CLOISTER_VECTORS ??
  fileURLToPath(new URL('../../shared/attestation-vectors/', import.meta.url));

async function rate(work: () => unknown): Promise<number> {
  for (let i = 0; i < 20; i++) await work();
  let count = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await work();
    count++;
  }
  return count / ((performance.now() - start) / 1000);
}

// The sim platform.
const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-attest-'));
try {
  const platform = await SimPlatform.open({ path: join(dir, 'platform.json') });
  const qe = new SimQuotingEnclave(platform);
  const enclave: EnclaveIdentity = {
    mrenclave: new Uint8Array(32).fill(7),
    mrsigner: new Uint8Array(32).fill(9),
    isvprodid: 1,
    isvsvn: 2,
    attributes: { flags: 0x5n, xfrm: 0x3n },
    miscselect: 0,
  };
  const trustedRoot = platform.rootCertificateDer;
  const collateral = await simCollateral(platform);
  const cached = await verifyDcapCollateral(collateral, { trustedRoot });
  const reportData = new Uint8Array(64).fill(1);
  const makeQuote = (): Uint8Array => qe.quote(platform.ereport(enclave, qe.targetInfo(), reportData));
  const quote = makeQuote();
  const generate = await rate(makeQuote);
  const fresh = await rate(() => verifyDcapQuote(quote, { collateral, trustedRoot }));
  const reused = await rate(() => verifyDcapQuote(quote, { collateral: cached, trustedRoot }));
  printTable(
    `sim platform on one core, ${seconds} s each (ops/s)`,
    ['operation', 'per second', 'ratio to generation'],
    [
      ['quote generation (EREPORT + QE quote)', generate, 1],
      ['verification, collateral checked each time', fresh, fresh / generate],
      ['verification, collateral checked once (cached)', reused, reused / generate],
    ],
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// The real SGX quote, against @phala/dcap-qvl.
interface QvlVerifier {
  verify(quote: Buffer, collateral: unknown, nowSecs: number): { status: string };
}
const { QuoteVerifier } = createRequire(import.meta.url)('@phala/dcap-qvl') as {
  QuoteVerifier: new (rootDer: Buffer) => QvlVerifier;
};
const quote = new Uint8Array(readFileSync(join(vectors, 'dcap-qvl/sgx_quote')));
const rawCollateral = JSON.parse(readFileSync(join(vectors, 'dcap-qvl/sgx_quote_collateral.json'), 'utf8'));
const root = new Uint8Array(readFileSync(join(vectors, 'dcap-qvl/TrustedRootCA.der')));
const at = new Date('2025-07-01T00:00:00Z');
const qvl = new QuoteVerifier(Buffer.from(root));

const oursOnce = async (): Promise<string> =>
  (await verifyDcapQuote(quote, { collateral: rawCollateral, trustedRoot: root, at })).status;
const theirsOnce = (): string => qvl.verify(Buffer.from(quote), rawCollateral, at.getTime() / 1000).status;
// Both must reach the same verdict before their speed means anything.
const [ourStatus, theirStatus] = [await oursOnce(), theirsOnce()];
if (ourStatus !== theirStatus) throw new Error(`verdicts differ: ours ${ourStatus}, dcap-qvl ${theirStatus}`);

const oursCold = async (): Promise<string> => {
  clearMemos();
  return oursOnce();
};

const ours: number[] = [];
const cold: number[] = [];
const theirs: number[] = [];
for (let r = 0; r < rounds; r++) {
  ours.push(await rate(oursOnce));
  cold.push(await rate(oursCold));
  theirs.push(await rate(theirsOnce));
}
const [a, c, b] = [median(ours), median(cold), median(theirs)];
printTable(
  `real SGX quote (${ourStatus}), raw collateral on every call, one core, median of ${rounds} interleaved rounds of ${seconds} s (verifications/s)`,
  ['verifier', 'per second', 'ratio to @phala/dcap-qvl'],
  [
    ['cloister verifyDcapQuote', a, a / b],
    ['cloister verifyDcapQuote, memos emptied before each call', c, c / b],
    ['@phala/dcap-qvl 0.3.9 QuoteVerifier.verify', b, 1],
  ],
);
