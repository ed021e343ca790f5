// The sim quoting enclave: its quotes verify with the sim root and only with it, an independent verifier
// agrees, a revoked PCK or expired collateral fails, and the tenant policy refuses what it should.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { PolicyError, checkPolicy, parsePolicy } from '../../src/attestation/policy.ts';
import { verifyDcapQuote } from '../../src/attestation/verify-dcap.ts';
import type { DcapVerdict } from '../../src/attestation/verify-dcap.ts';
import { SimPlatform, SimPlatformError, targetInfoOf } from '../../src/tee/sim/platform.ts';
import type { EnclaveIdentity } from '../../src/tee/sim/platform.ts';
import { SIM_QE_IDENTITY, SimQuotingEnclave, simCollateral } from '../../src/tee/sim/quoting.ts';
import { DEBUG_ATTRIBUTES, identity, newPlatform } from './helpers/sim.ts';
import { VECTORS } from '../attestation/helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const VECTOR_AT = new Date('2025-07-01T00:00:00Z');
const REPORT_DATA = Uint8Array.from({ length: 64 }, (_, i) => i);

const { QuoteVerifier } = createRequire(import.meta.url)('@phala/dcap-qvl') as {
  QuoteVerifier: new (rootDer: Buffer) => {
    verify(
      quote: Buffer,
      collateral: Collateral,
      nowSecs: number,
    ): { status: string; advisory_ids: string[] };
  };
};

const rootOf = (p: SimPlatform): Uint8Array => p.rootCertificateDer;
const code = (c: string) => (e: unknown) => e instanceof VerificationError && e.code === c;
const rule = (c: string) => (e: unknown) => e instanceof PolicyError && e.code === c;

function quoteFor(p: SimPlatform, who: EnclaveIdentity, data = REPORT_DATA): Uint8Array {
  const qe = new SimQuotingEnclave(p);
  return qe.quote(p.ereport(who, qe.targetInfo(), data));
}

async function verified(who: EnclaveIdentity, status?: 'OutOfDate'): Promise<DcapVerdict> {
  const p = await newPlatform();
  const collateral = await simCollateral(p, { platformStatus: status });
  return verifyDcapQuote(quoteFor(p, who), { collateral, trustedRoot: rootOf(p) });
}

describe('sim quotes', () => {
  it('verify with the sim root: UpToDate, with the enclave identity and report data', async () => {
    const p = await newPlatform();
    const who = identity();
    const quote = quoteFor(p, who);
    const collateral = await simCollateral(p);
    const v = await verifyDcapQuote(quote, { collateral, trustedRoot: rootOf(p) });
    assert.equal(v.status, 'UpToDate');
    assert.deepEqual(v.advisoryIds, []);
    assert.equal(v.quote.kind, 'sgx');
    const body = v.quote.body as { mrEnclave: Uint8Array; mrSigner: Uint8Array; reportData: Uint8Array };
    assert.deepEqual(Uint8Array.from(body.mrEnclave), who.mrenclave);
    assert.deepEqual(Uint8Array.from(body.mrSigner), who.mrsigner);
    assert.deepEqual(Uint8Array.from(body.reportData), REPORT_DATA);
    assert.deepEqual(Uint8Array.from(v.quote.certification.qeReport.mrSigner), SIM_QE_IDENTITY.mrsigner);
    // The independent verifier, given the sim root, agrees.
    const theirs = new QuoteVerifier(Buffer.from(rootOf(p))).verify(
      Buffer.from(quote),
      collateral,
      Date.now() / 1000,
    );
    assert.equal(theirs.status, 'UpToDate');
  });

  it('are refused by a verifier that trusts only Intel (default root, even with Intel collateral)', async () => {
    const p = await newPlatform();
    const quote = quoteFor(p, identity());
    await assert.rejects(
      verifyDcapQuote(quote, { collateral: await simCollateral(p) }),
      code('untrusted-root'),
    );
    const intel = JSON.parse(readFileSync(new URL('sgx_quote_collateral.json', DCAP), 'utf8')) as unknown;
    await assert.rejects(
      verifyDcapQuote(quote, { collateral: intel, at: VECTOR_AT }),
      code('untrusted-root'),
    );
    assert.throws(() =>
      new QuoteVerifier(readFileSync(new URL('TrustedRootCA.der', DCAP))).verify(
        Buffer.from(quote),
        intel as Collateral,
        VECTOR_AT.getTime() / 1000,
      ),
    );
  });

  it('from another sim platform are refused', async () => {
    const p = await newPlatform();
    const other = await newPlatform();
    const quote = quoteFor(other, identity());
    await assert.rejects(
      verifyDcapQuote(quote, { collateral: await simCollateral(p), trustedRoot: rootOf(p) }),
      code('untrusted-root'),
    );
  });

  it('fail once the PCK is revoked in the sim PCK CRL', async () => {
    const p = await newPlatform();
    const quote = quoteFor(p, identity());
    p.revokePck();
    const reopened = await SimPlatform.open({ path: p.path, create: false });
    assert.equal(reopened.revokedPckSerials.length, 1);
    await assert.rejects(
      verifyDcapQuote(quote, { collateral: await simCollateral(reopened), trustedRoot: rootOf(p) }),
      code('cert-revoked'),
    );
  });

  it('fail when the collateral has expired, or before it was issued', async () => {
    const p = await newPlatform();
    const quote = quoteFor(p, identity());
    const collateral = await simCollateral(p, { days: 30 });
    const trustedRoot = rootOf(p);
    const later = new Date(Date.now() + 31 * 24 * 3600_000);
    await assert.rejects(verifyDcapQuote(quote, { collateral, trustedRoot, at: later }), (e: unknown) =>
      (e as VerificationError).code.endsWith('-expired'),
    );
    const earlier = new Date(Date.now() - 2 * 3600_000);
    await assert.rejects(verifyDcapQuote(quote, { collateral, trustedRoot, at: earlier }), (e: unknown) =>
      (e as VerificationError).code.endsWith('-expired'),
    );
  });

  it('the QE refuses a REPORT not targeted at it, or altered', async () => {
    const p = await newPlatform();
    const qe = new SimQuotingEnclave(p);
    const elsewhere = p.ereport(identity(), targetInfoOf(identity({ isvsvn: 1 })), REPORT_DATA);
    assert.throws(
      () => qe.quote(elsewhere),
      (e: unknown) => e instanceof SimPlatformError && e.code === 'report-mac',
    );
    const report = p.ereport(identity(), qe.targetInfo(), REPORT_DATA);
    report[64] ^= 1; // MRENCLAVE
    assert.throws(
      () => qe.quote(report),
      (e: unknown) => e instanceof SimPlatformError && e.code === 'report-mac',
    );
  });

  it('carry a changed byte only as a failed signature', async () => {
    const p = await newPlatform();
    const quote = quoteFor(p, identity());
    quote[48 + 64] ^= 1; // body: MRENCLAVE
    await assert.rejects(
      verifyDcapQuote(quote, { collateral: await simCollateral(p), trustedRoot: rootOf(p) }),
      code('quote-signature'),
    );
  });
});

describe('tenant policy on sim evidence', () => {
  const who = identity();
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const exact = parsePolicy({
    mrenclave: [hex(who.mrenclave)],
    mrsigner: [hex(who.mrsigner)],
    isvprodid: who.isvprodid,
    minIsvsvn: who.isvsvn,
    reportData: hex(REPORT_DATA),
  });

  it('accepts the expected enclave', async () => {
    checkPolicy(await verified(who), exact);
    checkPolicy(await verified(who), parsePolicy({}));
  });

  it('refuses a debug enclave unless allowed', async () => {
    const v = await verified(identity({ attributes: DEBUG_ATTRIBUTES }));
    assert.throws(() => checkPolicy(v, parsePolicy({})), rule('debug'));
    checkPolicy(v, parsePolicy({ allowDebug: true }));
  });

  it('refuses a wrong MRENCLAVE, MRSIGNER, product, old ISVSVN, other report data', async () => {
    const cases: [Partial<EnclaveIdentity>, string][] = [
      [{ mrenclave: new Uint8Array(32).fill(0x99) }, 'mrenclave'],
      [{ mrsigner: new Uint8Array(32).fill(0x99) }, 'mrsigner'],
      [{ isvprodid: 8 }, 'isvprodid'],
      [{ isvsvn: 2 }, 'isvsvn'],
    ];
    for (const [over, name] of cases) {
      const v = await verified(identity(over));
      assert.throws(() => checkPolicy(v, exact), rule(name), name);
    }
    const p = await newPlatform();
    const other = await verifyDcapQuote(quoteFor(p, who, new Uint8Array(64).fill(1)), {
      collateral: await simCollateral(p),
      trustedRoot: rootOf(p),
    });
    assert.throws(() => checkPolicy(other, exact), rule('report-data'));
  });

  it('refuses a TCB status it does not list', async () => {
    const v = await verified(who, 'OutOfDate');
    assert.equal(v.status, 'OutOfDate');
    assert.throws(() => checkPolicy(v, exact), rule('tcb-status'));
    checkPolicy(v, { ...exact, acceptedTcbStatuses: ['UpToDate', 'OutOfDate'] });
  });

  it('refuses TDX evidence (its identity is not an SGX enclave)', async () => {
    const quote = new Uint8Array(readFileSync(new URL('tdx_quote', DCAP)));
    const collateral = JSON.parse(
      readFileSync(new URL('tdx_quote_collateral.json', DCAP), 'utf8'),
    ) as unknown;
    const v = await verifyDcapQuote(quote, { collateral, at: VECTOR_AT });
    assert.throws(() => checkPolicy(v, parsePolicy({})), rule('evidence-type'));
  });
});
