/**
 * The simulated SGX CPU (host side). Its "fused" secrets live in a platform identity file, created on
 * first use with mode 0600: a 32-byte root secret from which report and seal keys are derived, the
 * CPUSVN, and the sim PCK certificate chain with its keys. It implements EREPORT and EGETKEY semantics:
 * a REPORT is MACed with the report key of the *target* enclave, so only that enclave can check it;
 * seal keys bind to MRENCLAVE or MRSIGNER and to an SVN no higher than the caller's.
 *
 * Nothing here is isolated from the host: whoever reads the file can forge every key and report.
 */
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Reader, concat, fromHex, toHex } from '../../attestation/bytes.ts';
import { SgxAttributeFlags, encodeSgxReportBody, readSgxReportBody } from '../../attestation/report-body.ts';
import type { SgxReportBody } from '../../attestation/report-body.ts';
import { aesCmac } from './cmac.ts';
import {
  SimPlatformError,
  checkPlatformKeys,
  defaultPlatformPath,
  loadPlatformFile,
  savePlatformFile,
} from './platform-file.ts';
import type { SimPlatformFile } from './platform-file.ts';
import type { SimPkiFiles } from './pki.ts';

export { SimPlatformError, defaultPlatformPath } from './platform-file.ts';
export type { SimPlatformFile } from './platform-file.ts';

/** REPORT: 384-byte body, 32-byte KEYID, 16-byte AES-128-CMAC. */
export const REPORT_SIZE = 432;
const KEY_ID_SIZE = 32;
/** Seal keys ignore MODE64BIT, PROVISIONKEY and EINITTOKENKEY, like the SGX SDK's default flags mask. */
const SEAL_FLAGS_MASK = ~(
  SgxAttributeFlags.MODE64BIT |
  SgxAttributeFlags.PROVISIONKEY |
  SgxAttributeFlags.EINITTOKENKEY
);

/** ATTRIBUTES: FLAGS (bit 1 = DEBUG) and XFRM. */
export interface SgxAttributes {
  flags: bigint;
  xfrm: bigint;
}

/** What SGX records about an initialized enclave (from its SIGSTRUCT and its measurement). */
export interface EnclaveIdentity {
  mrenclave: Uint8Array;
  mrsigner: Uint8Array;
  isvprodid: number;
  isvsvn: number;
  attributes: SgxAttributes;
  miscselect: number;
}

/** TARGETINFO: the enclave a REPORT is meant for. */
export interface TargetInfo {
  mrenclave: Uint8Array;
  attributes: SgxAttributes;
  miscselect: number;
}

/** KEYREQUEST. Report keys use only `keyId`; seal keys default to the caller's ISVSVN and the current CPUSVN. */
export interface KeyRequest {
  name: 'seal' | 'report';
  policy?: 'MRENCLAVE' | 'MRSIGNER';
  isvsvn?: number;
  cpusvn?: Uint8Array;
  keyId?: Uint8Array;
}

/** The 16-byte ATTRIBUTES field. */
export function encodeAttributes(a: SgxAttributes): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, a.flags, true);
  v.setBigUint64(8, a.xfrm, true);
  return out;
}

/** The TARGETINFO naming `identity`. */
export function targetInfoOf(identity: EnclaveIdentity): TargetInfo {
  return { mrenclave: identity.mrenclave, attributes: identity.attributes, miscselect: identity.miscselect };
}

function checkIdentity(id: EnclaveIdentity): void {
  const u = (n: number, max: number): boolean => Number.isInteger(n) && n >= 0 && n <= max;
  if (
    id.mrenclave?.length !== 32 ||
    id.mrsigner?.length !== 32 ||
    !u(id.isvprodid, 0xffff) ||
    !u(id.isvsvn, 0xffff) ||
    !u(id.miscselect, 0xffffffff) ||
    typeof id.attributes?.flags !== 'bigint' ||
    typeof id.attributes.xfrm !== 'bigint'
  ) {
    throw new SimPlatformError('bad-identity', 'enclave identity: malformed field');
  }
}

function u16(n: number): Uint8Array {
  return Uint8Array.of(n & 0xff, n >> 8);
}
function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** The sim CPU. Open it with `SimPlatform.open`. */
export class SimPlatform {
  /** KEYID of this "boot": reports carry it, and the target derives the report key with it. */
  private readonly bootKeyId = new Uint8Array(randomBytes(KEY_ID_SIZE));
  private readonly rootSecret: Uint8Array;
  /** Whether the file's certificates and keys were parsed (on first use: `keys()`). */
  private keysChecked = false;
  readonly cpuSvn: Uint8Array;
  readonly pceSvn: number;
  readonly pceId: Uint8Array;
  readonly fmspc: Uint8Array;
  readonly ppid: Uint8Array;

  private constructor(
    readonly path: string,
    private file: SimPlatformFile,
  ) {
    this.rootSecret = fromHex(file.rootSecret);
    this.cpuSvn = fromHex(file.cpuSvn);
    this.pceSvn = file.pceSvn;
    this.pceId = fromHex(file.pceId);
    this.fmspc = fromHex(file.fmspc);
    this.ppid = fromHex(file.ppid);
  }

  /** The platform file, its PEM certificates and keys checked (once): what quotes and collateral use. */
  private keys(): SimPlatformFile {
    if (!this.keysChecked) {
      checkPlatformKeys(this.file, this.path);
      this.keysChecked = true;
    }
    return this.file;
  }

  /** The sim root CA certificate, DER: the trust anchor to pass as `trustedRoot` to accept sim evidence. */
  get rootCertificateDer(): Uint8Array {
    return new Uint8Array(new X509Certificate(this.keys().pki.rootCa.cert).raw);
  }

  /**
   * Opens the platform at `path` (default `$CLOISTER_SIM_PLATFORM` or `~/.cloister/sim-platform.json`),
   * creating it (mode 0600) unless `create` is false.
   */
  static async open(options: { path?: string; create?: boolean } = {}): Promise<SimPlatform> {
    const path = options.path ?? defaultPlatformPath();
    return new SimPlatform(path, await loadPlatformFile(path, options.create !== false));
  }

  /** The sim PKI: certificates and the keys that Intel (CAs) and the PCE (PCK) would hold. */
  get pki(): Readonly<SimPkiFiles> {
    return this.keys().pki;
  }

  /** The quoting enclave's attestation key. */
  get attestationKey(): KeyObject {
    return createPrivateKey(this.keys().attestationKey);
  }

  /** PCK certificate serials the sim PCK CRL lists. */
  get revokedPckSerials(): readonly string[] {
    return this.file.revokedPckSerials;
  }

  /** The PCK private key (the PCE's), signing QE reports. */
  get pckKey(): KeyObject {
    return createPrivateKey(this.keys().pki.pck.key);
  }

  /** Lists this platform's PCK certificate in its PCK CRL from now on (for negative tests). */
  revokePck(): void {
    const serial = new X509Certificate(this.keys().pki.pck.cert).serialNumber.toLowerCase();
    if (this.file.revokedPckSerials.includes(serial)) return;
    this.file = { ...this.file, revokedPckSerials: [...this.file.revokedPckSerials, serial] };
    savePlatformFile(this.path, this.file);
  }

  /** EREPORT: `self`'s REPORT for `target`, MACed with the target's report key (432 bytes). */
  ereport(self: EnclaveIdentity, target: TargetInfo, reportData: Uint8Array): Uint8Array {
    checkIdentity(self);
    if (reportData.length !== 64)
      throw new RangeError(`report data must be 64 bytes, got ${reportData.length}`);
    const body = encodeSgxReportBody({
      cpuSvn: this.cpuSvn,
      miscSelect: self.miscselect,
      attributes: encodeAttributes(self.attributes),
      mrEnclave: self.mrenclave,
      mrSigner: self.mrsigner,
      isvProdId: self.isvprodid,
      isvSvn: self.isvsvn,
      reportData,
    });
    const key = this.reportKey(target, this.bootKeyId);
    return concat(body, this.bootKeyId, aesCmac(key, body));
  }

  /**
   * The target's side of local attestation: checks the REPORT's MAC with `self`'s report key and
   * returns its body. A REPORT made for another enclave, or on another platform, fails (`report-mac`).
   */
  verifyReport(self: EnclaveIdentity, report: Uint8Array): SgxReportBody {
    checkIdentity(self);
    if (report.length !== REPORT_SIZE)
      throw new SimPlatformError('bad-report', `REPORT must be ${REPORT_SIZE} bytes, got ${report.length}`);
    const body = report.subarray(0, 384);
    const keyId = report.subarray(384, 416);
    const expected = aesCmac(this.egetkey(self, { name: 'report', keyId }), body);
    if (!timingSafeEqual(expected, report.subarray(416)))
      throw new SimPlatformError(
        'report-mac',
        'REPORT MAC does not verify: not made for this enclave on this platform',
      );
    return readSgxReportBody(new Reader(Uint8Array.from(body), 0, 'REPORT'));
  }

  /**
   * EGETKEY: a 16-byte key. Report keys derive from the caller's MRENCLAVE, ATTRIBUTES, MISCSELECT, the
   * current CPUSVN and the KEYID. Seal keys derive from MRENCLAVE (policy MRENCLAVE) or MRSIGNER
   * (policy MRSIGNER), always ISVPRODID, the masked ATTRIBUTES (DEBUG included), and the *requested*
   * ISVSVN and CPUSVN, which may not exceed the caller's and the platform's: newer versions can derive
   * older keys, never the reverse.
   */
  egetkey(self: EnclaveIdentity, request: KeyRequest): Uint8Array {
    checkIdentity(self);
    const keyId = request.keyId ?? new Uint8Array(KEY_ID_SIZE);
    if (keyId.length !== KEY_ID_SIZE) throw new SimPlatformError('bad-key-request', 'KEYID must be 32 bytes');
    if (request.name === 'report') return this.reportKey(self, keyId);
    if (request.name !== 'seal')
      throw new SimPlatformError('bad-key-request', `unknown key name ${String(request.name)}`);
    const policy = request.policy ?? 'MRSIGNER';
    if (policy !== 'MRENCLAVE' && policy !== 'MRSIGNER')
      throw new SimPlatformError('bad-key-request', `unknown key policy ${String(policy)}`);
    const isvsvn = request.isvsvn ?? self.isvsvn;
    if (!Number.isInteger(isvsvn) || isvsvn < 0 || isvsvn > 0xffff)
      throw new SimPlatformError('bad-key-request', 'ISVSVN must be 0..65535');
    if (isvsvn > self.isvsvn)
      throw new SimPlatformError('isvsvn-too-high', `ISVSVN ${isvsvn} is above the enclave's ${self.isvsvn}`);
    const cpusvn = request.cpusvn ?? this.cpuSvn;
    if (cpusvn.length !== 16) throw new SimPlatformError('bad-key-request', 'CPUSVN must be 16 bytes');
    if (cpusvn.some((svn, i) => svn > this.cpuSvn[i]))
      throw new SimPlatformError(
        'cpusvn-too-high',
        `CPUSVN ${toHex(cpusvn)} is above the platform's ${toHex(this.cpuSvn)}`,
      );
    const zero = new Uint8Array(32);
    return this.derive(
      keyId,
      concat(
        u16(0x0004), // SGX KEYNAME: SEAL_KEY
        u16(policy === 'MRENCLAVE' ? 1 : 2),
        u16(self.isvprodid),
        u16(isvsvn),
        cpusvn,
        encodeAttributes({ flags: self.attributes.flags & SEAL_FLAGS_MASK, xfrm: 0n }),
        u32(self.miscselect),
        policy === 'MRENCLAVE' ? self.mrenclave : zero,
        policy === 'MRSIGNER' ? self.mrsigner : zero,
      ),
    );
  }

  private reportKey(target: TargetInfo, keyId: Uint8Array): Uint8Array {
    return this.derive(
      keyId,
      concat(
        u16(0x0003), // SGX KEYNAME: REPORT_KEY
        this.cpuSvn,
        encodeAttributes(target.attributes),
        u32(target.miscselect),
        target.mrenclave,
      ),
    );
  }

  /** HKDF-SHA256 from the root secret; the label keeps these keys apart from any other use of it. */
  private derive(keyId: Uint8Array, fields: Uint8Array): Uint8Array {
    const info = concat(
      new TextEncoder().encode('cloister-sim-egetkey-v1'),
      createHash('sha256').update(fields).digest(),
    );
    return new Uint8Array(hkdfSync('sha256', this.rootSecret, keyId, info, 16));
  }
}
