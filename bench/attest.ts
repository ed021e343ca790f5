// Quote generation and verification per second, measured in one run on the sim platform: an
// enclave REPORT turned into a DCAP quote by the sim quoting enclave, then verified with the
// collateral parsed and checked per quote, or checked once and cached.
// Usage: node --import tsx bench/attest.ts [--seconds 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyDcapCollateral } from '../src/attestation/dcap-collateral.ts';
import { verifyDcapQuote } from '../src/attestation/verify-dcap.ts';
import { SimPlatform, type EnclaveIdentity } from '../src/tee/sim/platform.ts';
import { SimQuotingEnclave, simCollateral } from '../src/tee/sim/quoting.ts';
import { printTable } from './lib.ts';

const secondsArg = process.argv.indexOf('--seconds');
const seconds = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 3;
const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-attest-'));
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

const reportData = new Uint8Array(64).fill(1);
const makeQuote = (): Uint8Array => qe.quote(platform.ereport(enclave, qe.targetInfo(), reportData));
const quote = makeQuote();
const generate = await rate(makeQuote);
const fresh = await rate(() => verifyDcapQuote(quote, { collateral, trustedRoot }));
const reused = await rate(() => verifyDcapQuote(quote, { collateral: cached, trustedRoot }));
printTable(
  `attestation on one core, ${seconds} s each (ops/s)`,
  ['operation', 'per second', 'ratio to generation'],
  [
    ['quote generation (EREPORT + QE quote)', generate, 1],
    ['verification, collateral checked each time', fresh, fresh / generate],
    ['verification, collateral checked once (cached)', reused, reused / generate],
  ],
);
rmSync(dir, { recursive: true, force: true });
