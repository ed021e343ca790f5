/**
 * The `sim` platform for one enclave: EREPORT and EGETKEY with the identity the platform fixed at
 * launch (so the enclave cannot claim another), and the sim quoting enclave. This is the simulated
 * CPU: in `sim` it lives in the same process as the host, which is exactly why `sim` gives no
 * isolation.
 */
import type { Sigstruct } from '../../attestation/sigstruct.ts';
import { decodeTargetInfo, encodeTargetInfo } from '../../interface/platform.ts';
import type { EnclavePlatform } from '../backend.ts';
import { encodeAttributes, type EnclaveIdentity, type SimPlatform } from './platform.ts';
import { SimQuotingEnclave } from './quoting.ts';

/** SGX ATTRIBUTES.FLAGS bits. */
const FLAG_INIT = 0x1n;
const FLAG_DEBUG = 0x2n;
const FLAG_MODE64BIT = 0x4n;
/** XFRM of x87 + SSE state, the minimum legacy value. */
const XFRM_LEGACY = 0x3n;

/**
 * The identity SGX would give the enclave at EINIT: its measurement, and the signer fields of a
 * verified SIGSTRUCT whose ENCLAVEHASH equals it (or an all-zero signer when unsigned).
 */
export function enclaveIdentity(mrenclave: Uint8Array, sig?: Sigstruct): EnclaveIdentity {
  if (sig && Buffer.compare(Buffer.from(sig.enclaveHash), Buffer.from(mrenclave)) !== 0) {
    throw new Error(
      'the SIGSTRUCT was signed for another enclave (ENCLAVEHASH differs from the measurement)',
    );
  }
  const signedFlags = sig
    ? new DataView(sig.attributes.buffer, sig.attributes.byteOffset).getBigUint64(0, true)
    : 0n;
  return {
    mrenclave,
    mrsigner: sig?.mrSigner ?? new Uint8Array(32),
    isvprodid: sig?.isvProdId ?? 0,
    isvsvn: sig?.isvSvn ?? 0,
    attributes: { flags: FLAG_INIT | FLAG_MODE64BIT | (signedFlags & FLAG_DEBUG), xfrm: XFRM_LEGACY },
    miscselect: 0,
  };
}

/** EREPORT/EGETKEY of `identity` and the sim QE, on `platform`. */
export function simEnclavePlatform(platform: SimPlatform, identity: EnclaveIdentity): EnclavePlatform {
  const qe = new SimQuotingEnclave(platform);
  return {
    localReport(targetInfo, reportData) {
      const target = decodeTargetInfo(targetInfo);
      const view = new DataView(target.attributes.buffer, target.attributes.byteOffset, 16);
      return platform.ereport(
        identity,
        {
          mrenclave: target.mrenclave,
          attributes: { flags: view.getBigUint64(0, true), xfrm: view.getBigUint64(8, true) },
          miscselect: target.miscselect,
        },
        reportData,
      );
    },
    sealKey: (policy) => platform.egetkey(identity, { name: 'seal', policy }),
    quoteTarget() {
      const t = qe.targetInfo();
      return encodeTargetInfo({
        mrenclave: t.mrenclave,
        attributes: encodeAttributes(t.attributes),
        miscselect: t.miscselect,
      });
    },
    quote: (report) => qe.quote(report),
    close: () => {},
  };
}
