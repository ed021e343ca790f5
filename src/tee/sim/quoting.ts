/**
 * The sim quoting enclave and the sim provisioning service. The QE checks an application enclave's
 * REPORT by local attestation (it must be targeted at the QE), then issues an SGX DCAP quote v3: the
 * REPORT body signed by the QE's ECDSA P-256 attestation key, the QE's own REPORT (signed by the PCK
 * key, its report data binding the attestation key) and the PEM PCK chain (certification data type 5).
 * `simCollateral` issues what a verifier needs, in Intel's JSON/DER formats, under the sim root.
 */
import { createHash, createPrivateKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { concat, toHex } from '../../attestation/bytes.ts';
import type { Collateral, TcbStatus } from '../../attestation/collateral.ts';
import { INTEL_QE_VENDOR_ID } from '../../attestation/quote.ts';
import type { QuoteHeader } from '../../attestation/quote.ts';
import { encodeQuote, quoteSignedData } from '../../attestation/quote-encode.ts';
import { SgxAttributeFlags } from '../../attestation/report-body.ts';
import { encodeAttributes, targetInfoOf } from './platform.ts';
import type { EnclaveIdentity, SimPlatform, TargetInfo } from './platform.ts';

const sha256 = (text: string): Uint8Array => new Uint8Array(createHash('sha256').update(text).digest());

/**
 * The sim QE's identity: fixed constants of the sim platform (the QE identity collateral names them).
 * ATTRIBUTES INIT | MODE64BIT | PROVISIONKEY, not DEBUG, as Intel's production QE.
 */
export const SIM_QE_IDENTITY: EnclaveIdentity = Object.freeze({
  mrenclave: sha256('cloister sim quoting enclave v1'),
  mrsigner: sha256('cloister sim quoting enclave signer v1'),
  isvprodid: 1,
  isvsvn: 8,
  attributes: {
    flags: SgxAttributeFlags.INIT | SgxAttributeFlags.MODE64BIT | SgxAttributeFlags.PROVISIONKEY,
    xfrm: 0x3n,
  },
  miscselect: 0,
});

/** The sim PCE (which certifies the QE's REPORT with the PCK key) as a target. */
const SIM_PCE_TARGET: TargetInfo = {
  mrenclave: sha256('cloister sim provisioning certification enclave v1'),
  attributes: SIM_QE_IDENTITY.attributes,
  miscselect: 0,
};

function p256(key: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }));
}

/** x || y of a P-256 key. */
function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  return concat(Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url'));
}

/** The sim quoting enclave of one platform. */
export class SimQuotingEnclave {
  constructor(private readonly platform: SimPlatform) {}

  /** What an application enclave targets its REPORT at (SGX's `sgx_init_quote` / `get_target_info`). */
  targetInfo(): TargetInfo {
    return targetInfoOf(SIM_QE_IDENTITY);
  }

  /**
   * Quotes a REPORT targeted at this QE; throws `SimPlatformError` (`report-mac`) for a REPORT that was
   * not (or was altered). `qeAuthData` is bound into the QE's report data with the attestation key.
   */
  quote(report: Uint8Array, options: { qeAuthData?: Uint8Array } = {}): Uint8Array {
    const body = this.platform.verifyReport(SIM_QE_IDENTITY, report).raw;
    const qeAuthData = options.qeAuthData ?? new Uint8Array(32);
    const attestationKey = this.platform.attestationKey;
    const attestationPublic = rawPublicKey(attestationKey);
    const qeReportData = concat(
      createHash('sha256').update(attestationPublic).update(qeAuthData).digest(),
      new Uint8Array(32),
    );
    const qeReport = this.platform.ereport(SIM_QE_IDENTITY, SIM_PCE_TARGET, qeReportData).subarray(0, 384);
    const header: QuoteHeader = {
      version: 3,
      attestationKeyType: 2,
      teeType: 0,
      qeSvn: SIM_QE_IDENTITY.isvsvn,
      pceSvn: this.platform.pceSvn,
      // Intel's ECDSA QE vendor id: the quote follows that QE's format.
      qeVendorId: Buffer.from(INTEL_QE_VENDOR_ID, 'hex'),
      userData: new Uint8Array(20),
    };
    const pki = this.platform.pki;
    return encodeQuote({
      header,
      body,
      signature: p256(attestationKey, quoteSignedData(header, body)),
      attestationKey: attestationPublic,
      qeReport,
      qeReportSignature: p256(this.platform.pckKey, qeReport),
      qeAuthData,
      pckChainPem: pki.pck.cert + pki.pckCa.cert + pki.rootCa.cert,
    });
  }
}

/** Options of `simCollateral`. */
export interface SimCollateralOptions {
  /** Issue time (default now): TCB info, QE identity and CRLs are valid from an hour before it. */
  at?: Date;
  /** Validity in days after `at` (default 30, as Intel's TCB info). */
  days?: number;
  /** Status of the TCB level the platform meets (default UpToDate), with its advisories. */
  platformStatus?: TcbStatus;
  advisoryIds?: string[];
}

/**
 * Collateral for this platform's quotes, in the PCCS shape `verifyDcapQuote` takes: root CA CRL, PCK CRL
 * (listing revoked PCKs), TCB info v3 and QE identity v2 signed by the sim TCB signing key.
 */
export async function simCollateral(
  platform: SimPlatform,
  options: SimCollateralOptions = {},
): Promise<Collateral> {
  const at = options.at ?? new Date();
  const from = new Date(at.getTime() - 3600_000);
  const until = new Date(at.getTime() + (options.days ?? 30) * 24 * 3600_000);
  const pki = platform.pki;
  const tcbKey = createPrivateKey(pki.tcbSigning.key);
  const { SimNames, signCrl } = await import('./pki.ts');
  const rootCrl = await signCrl(pki.rootCa, SimNames.root, [], from, until);
  const pckCrl = await signCrl(pki.pckCa, SimNames.pckCa, platform.revokedPckSerials, from, until);
  const status = options.platformStatus ?? 'UpToDate';
  const tcbInfo = JSON.stringify({
    id: 'SGX',
    version: 3,
    issueDate: from.toISOString(),
    nextUpdate: until.toISOString(),
    fmspc: toHex(platform.fmspc).toUpperCase(),
    pceId: toHex(platform.pceId).toUpperCase(),
    tcbType: 0,
    tcbEvaluationDataNumber: 1,
    tcbLevels: [
      {
        tcb: { sgxtcbcomponents: Array.from(platform.cpuSvn, (svn) => ({ svn })), pcesvn: platform.pceSvn },
        tcbDate: from.toISOString(),
        tcbStatus: status,
        ...(options.advisoryIds?.length ? { advisoryIDs: options.advisoryIds } : {}),
      },
      {
        tcb: { sgxtcbcomponents: Array.from(platform.cpuSvn, () => ({ svn: 0 })), pcesvn: 0 },
        tcbDate: '2020-01-01T00:00:00Z',
        tcbStatus: 'OutOfDate',
      },
    ],
  });
  const qe = SIM_QE_IDENTITY;
  const qeIdentity = JSON.stringify({
    id: 'QE',
    version: 2,
    issueDate: from.toISOString(),
    nextUpdate: until.toISOString(),
    tcbEvaluationDataNumber: 1,
    miscselect: '00000000',
    miscselectMask: 'FFFFFFFF',
    // Intel's mask: MODE64BIT and XFRM are not judged; DEBUG is.
    attributes: toHex(
      encodeAttributes({ flags: qe.attributes.flags & ~SgxAttributeFlags.MODE64BIT, xfrm: 0n }),
    ).toUpperCase(),
    attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: toHex(qe.mrsigner).toUpperCase(),
    isvprodid: qe.isvprodid,
    tcbLevels: [{ tcb: { isvsvn: qe.isvsvn }, tcbDate: from.toISOString(), tcbStatus: 'UpToDate' }],
  });
  const signText = (text: string): string => toHex(p256(tcbKey, new TextEncoder().encode(text)));
  const issuerChain = (leaf: string): string => leaf + pki.rootCa.cert;
  return {
    pck_crl_issuer_chain: issuerChain(pki.pckCa.cert),
    root_ca_crl: toHex(rootCrl),
    pck_crl: toHex(pckCrl),
    tcb_info_issuer_chain: issuerChain(pki.tcbSigning.cert),
    tcb_info: tcbInfo,
    tcb_info_signature: signText(tcbInfo),
    qe_identity_issuer_chain: issuerChain(pki.tcbSigning.cert),
    qe_identity: qeIdentity,
    qe_identity_signature: signText(qeIdentity),
  };
}
