/**
 * Test-only quote issuer for the KBS and RA-TLS tests: the Intel-format test PKI of
 * `test/attestation/helpers/dcap-pki.ts`, valid from yesterday for a year, and a `quote(fields)` that
 * signs SGX v3 quotes with any report body.
 */
import { fromHex } from '../../../src/attestation/bytes.ts';
import type { Collateral } from '../../../src/attestation/collateral.ts';
import { encodeSgxReportBody } from '../../../src/attestation/report-body.ts';
import { verifyDcapCollateral } from '../../../src/attestation/dcap-collateral.ts';
import { dcapEvidenceVerifier } from '../../../src/attestation/evidence.ts';
import type { EvidenceVerifier } from '../../../src/attestation/evidence.ts';
import { makePki } from '../../attestation/helpers/dcap-pki.ts';

const DAY = 86_400_000;

/** The enclave under test's identity. */
export const MRENCLAVE = '11'.repeat(32);
export const MRSIGNER = '22'.repeat(32);

/** Report body fields a test can vary. */
export interface QuoteFields {
  reportData: Uint8Array;
  mrEnclave?: string;
  mrSigner?: string;
  isvProdId?: number;
  isvSvn?: number;
  debug?: boolean;
}

export interface QuoteIssuer {
  rootDer: Uint8Array;
  collateral: Collateral;
  /** Signs an SGX v3 quote with these body fields. */
  quote(fields: QuoteFields): Uint8Array;
  /** A verifier trusting this issuer's root. */
  verifier: EvidenceVerifier;
}

/** Issues a PKI valid from yesterday for a year and returns the quote signer. */
export async function makeQuoteIssuer(): Promise<QuoteIssuer> {
  const pki = await makePki({
    validFrom: new Date(Date.now() - DAY),
    validTo: new Date(Date.now() + 365 * DAY),
  });
  const { rootDer, collateral } = pki;
  const quote = (f: QuoteFields): Uint8Array => {
    const body = encodeSgxReportBody({
      // FLAGS: INIT | MODE64BIT, plus DEBUG on request.
      attributes: fromHex(f.debug ? '07000000000000000700000000000000' : '05000000000000000700000000000000'),
      mrEnclave: fromHex(f.mrEnclave ?? MRENCLAVE),
      mrSigner: fromHex(f.mrSigner ?? MRSIGNER),
      isvProdId: f.isvProdId ?? 1,
      isvSvn: f.isvSvn ?? 3,
      reportData: f.reportData,
    });
    return pki.signQuote(body);
  };
  // Collateral verified once, as a KBS would cache it.
  const verified = await verifyDcapCollateral(collateral, { trustedRoot: rootDer });
  return {
    rootDer,
    collateral,
    quote,
    verifier: dcapEvidenceVerifier({ collateral: verified, trustedRoot: rootDer }),
  };
}
