/**
 * DCAP collateral verified once and reusable across quotes: root CA CRL, PCK CRL and its issuer chain,
 * TCB info and QE identity with their signing chains. Time windows are re-checked at every use, so a
 * cached result never outlives the collateral.
 */
import { FormatError, fromHex } from './bytes.ts';
import { COLLATERAL_FIELDS, parseCollateral, parseQeIdentity, parseTcbInfo } from './collateral.ts';
import type { QeIdentity, TcbInfo } from './collateral.ts';
import { p256Verify } from './ecdsa.ts';
import { BoundedMemo, digestOf } from './memo.ts';
import { VerificationError } from './errors.ts';
import type { VerificationErrorCode } from './errors.ts';
import { INTEL_SGX_ROOT_CA_DER_BASE64 } from './roots/intel-sgx-root-ca.ts';
import type { Certificate, Crl } from './x509-chain.ts';
import {
  checkRevocation,
  checkValidity,
  crlWindow,
  parseCert,
  parseCrlHex,
  parsePemChain,
  publicKeyOf,
  verifyChain,
  verifyCrl,
} from './x509-chain.ts';

/** Intel SGX Root CA, DER: the default trust anchor. */
export const INTEL_SGX_ROOT_CA_DER: Uint8Array = Uint8Array.from(
  Buffer.from(INTEL_SGX_ROOT_CA_DER_BASE64, 'base64'),
);

/** Collateral whose signatures and chains have been checked against `root`. */
export interface VerifiedCollateral {
  readonly root: Certificate;
  readonly rootCrl: Crl;
  readonly pckCrl: Crl;
  /** The PCK CA that signed `pckCrl`; a quote's PCK must be issued by this same CA. */
  readonly pckCrlIssuer: Certificate;
  readonly tcbInfo: TcbInfo;
  readonly qeIdentity: QeIdentity;
  /** Certificates of the collateral's own chains, whose validity is re-checked at each use. */
  readonly certificates: readonly Certificate[];
}

/** Only objects made by `verifyDcapCollateral` count as verified. */
const genuine = new WeakSet<VerifiedCollateral>();

/** Whether `value` came from `verifyDcapCollateral` (a look-alike object does not). */
export function isVerifiedCollateral(value: unknown): value is VerifiedCollateral {
  return typeof value === 'object' && value !== null && genuine.has(value as VerifiedCollateral);
}

export interface CollateralOptions {
  /** Verification time; defaults to now. */
  at?: Date;
  /** Trust anchor (DER); defaults to Intel's SGX Root CA. Pass the sim root only when sim evidence is wanted. */
  trustedRoot?: Uint8Array;
}

function checkWindow(issue: Date, next: Date, at: Date, code: VerificationErrorCode, what: string): void {
  if (at < issue || at > next) {
    throw new VerificationError(
      code,
      `${what} is valid ${issue.toISOString()}..${next.toISOString()}, not at ${at.toISOString()}`,
    );
  }
}

/** Re-checks every validity window of verified collateral at time `at`. */
export function checkCollateralAt(c: VerifiedCollateral, at: Date): void {
  for (const cert of c.certificates) checkValidity(cert, at, 'collateral chain');
  crlWindow(c.rootCrl, at, 'root CA CRL');
  crlWindow(c.pckCrl, at, 'PCK CRL');
  checkWindow(c.tcbInfo.issueDate, c.tcbInfo.nextUpdate, at, 'tcb-info-expired', 'TCB info');
  checkWindow(c.qeIdentity.issueDate, c.qeIdentity.nextUpdate, at, 'qe-identity-expired', 'QE identity');
}

/** Verifies a signed JSON document's issuer chain (revocation included) and its signature. */
async function verifySignedJson(
  text: string,
  signatureHex: string,
  chainPem: string,
  root: Certificate,
  rootCrl: Crl,
  at: Date,
  code: VerificationErrorCode,
  what: string,
): Promise<Certificate[]> {
  const chain = await verifyChain(
    parsePemChain(chainPem, `${what} issuer chain`),
    root,
    at,
    `${what} issuer chain`,
  );
  checkRevocation(chain, [rootCrl], `${what} issuer chain`);
  let signature: Uint8Array;
  try {
    signature = fromHex(signatureHex);
  } catch {
    throw new FormatError('bad-collateral', `${what} signature is not hex`);
  }
  if (signature.length !== 64 || !p256Verify(publicKeyOf(chain[0]), Buffer.from(text, 'utf8'), signature)) {
    throw new VerificationError(code, `${what} signature does not verify`);
  }
  return chain;
}

/**
 * Verifies collateral at time `at` against the trusted root; the result can be passed to
 * `verifyDcapQuote` for any number of quotes. Throws `FormatError` or `VerificationError`.
 */
export async function verifyDcapCollateral(
  collateral: unknown,
  options: CollateralOptions = {},
): Promise<VerifiedCollateral> {
  const at = options.at ?? new Date();
  const c = parseCollateral(collateral);
  const rootDer = options.trustedRoot ?? INTEL_SGX_ROOT_CA_DER;
  // The same bytes under the same root verify alike at any time, but for the windows checked here.
  // The cache key covers each byte of each field.
  const key = digestOf(rootDer, ...COLLATERAL_FIELDS.map((field) => c[field]));
  const seen = verifiedCollaterals.peek(key);
  if (seen !== undefined) {
    checkCollateralAt(seen, at);
    return seen;
  }
  const verified = await verifyParsedCollateral(c, rootDer, at);
  verifiedCollaterals.set(key, verified);
  return verified;
}

/** Collateral verified under a root, by the hash of the root and every field; a verifier sees few. */
const verifiedCollaterals = new BoundedMemo<VerifiedCollateral>(32);

async function verifyParsedCollateral(
  c: ReturnType<typeof parseCollateral>,
  rootDer: Uint8Array,
  at: Date,
): Promise<VerifiedCollateral> {
  const root = parseCert(rootDer, 'trusted root');

  // The root's own CRL first: it must come from the trusted root, or the collateral belongs to another PKI.
  const rootCrl = parseCrlHex(c.root_ca_crl, 'root CA CRL');
  if (!rootCrl.issuer.equals(root.subject)) {
    throw new VerificationError(
      'untrusted-root',
      `root CA CRL is issued by "${rootCrl.issuer}", not the trusted root`,
    );
  }
  await verifyCrl(rootCrl, root, at, 'root CA CRL');

  const crlChain = await verifyChain(
    parsePemChain(c.pck_crl_issuer_chain, 'PCK CRL issuer chain'),
    root,
    at,
    'PCK CRL issuer chain',
  );
  checkRevocation(crlChain, [rootCrl], 'PCK CRL issuer chain');
  const pckCrl = parseCrlHex(c.pck_crl, 'PCK CRL');
  await verifyCrl(pckCrl, crlChain[0], at, 'PCK CRL');

  const tcbChain = await verifySignedJson(
    c.tcb_info,
    c.tcb_info_signature,
    c.tcb_info_issuer_chain,
    root,
    rootCrl,
    at,
    'tcb-info-signature',
    'TCB info',
  );
  const qeChain = await verifySignedJson(
    c.qe_identity,
    c.qe_identity_signature,
    c.qe_identity_issuer_chain,
    root,
    rootCrl,
    at,
    'qe-identity-signature',
    'QE identity',
  );
  const verified: VerifiedCollateral = Object.freeze({
    root,
    rootCrl,
    pckCrl,
    pckCrlIssuer: crlChain[0],
    tcbInfo: parseTcbInfo(c.tcb_info),
    qeIdentity: parseQeIdentity(c.qe_identity),
    certificates: Object.freeze([...crlChain, ...tcbChain, ...qeChain]),
  });
  checkCollateralAt(verified, at);
  genuine.add(verified);
  return verified;
}
