/**
 * Serves the sim platform's mailboxes from the launching process: EREPORT and EGETKEY for one
 * enclave whose identity the platform fixed at launch (so the enclave cannot claim another), and
 * the quoting enclave for the host server's relay. This is the simulated CPU: in `sim` it lives
 * in the same process as the host, which is exactly why `sim` gives no isolation.
 */
import type { Sigstruct } from '../../attestation/sigstruct.ts';
import { type MailboxReply, serveMailbox } from '../../interface/mailbox.ts';
import {
  decodeTargetInfo,
  encodeTargetInfo,
  PlatformOp,
  QeOp,
  REPORT_DATA_SIZE,
  REPORT_SIZE,
  SEAL_POLICY,
  TARGET_INFO_SIZE,
} from '../../interface/platform.ts';
import { encodeAttributes, type EnclaveIdentity, type SimPlatform } from './platform.ts';
import { SimQuotingEnclave } from './quoting.ts';

/** SGX ATTRIBUTES.FLAGS bits. */
const FLAG_INIT = 0x1n;
const FLAG_DEBUG = 0x2n;
const FLAG_MODE64BIT = 0x4n;
/** XFRM of x87 + SSE state, the minimum legacy value. */
const XFRM_LEGACY = 0x3n;

const ok = (data: Uint8Array): MailboxReply => ({ status: 0, data });
const fail = (status: number): MailboxReply => ({ status, data: new Uint8Array(0) });

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

/** Serves EREPORT/EGETKEY for `identity`; returns the function that stops serving. */
export function serveSimPlatform(
  mailbox: SharedArrayBuffer,
  platform: SimPlatform,
  identity: EnclaveIdentity,
): () => void {
  return serveMailbox(mailbox, (op, data) => {
    if (op === PlatformOp.EREPORT) {
      if (data.length !== TARGET_INFO_SIZE + REPORT_DATA_SIZE) return fail(1);
      const target = decodeTargetInfo(data.subarray(0, TARGET_INFO_SIZE));
      const view = new DataView(target.attributes.buffer, target.attributes.byteOffset, 16);
      const report = platform.ereport(
        identity,
        {
          mrenclave: target.mrenclave,
          attributes: { flags: view.getBigUint64(0, true), xfrm: view.getBigUint64(8, true) },
          miscselect: target.miscselect,
        },
        data.subarray(TARGET_INFO_SIZE),
      );
      return ok(report);
    }
    if (op === PlatformOp.EGETKEY_SEAL) {
      if (data.length !== 2) return fail(1);
      const policy =
        data[0] === SEAL_POLICY.MRENCLAVE
          ? 'MRENCLAVE'
          : data[0] === SEAL_POLICY.MRSIGNER
            ? 'MRSIGNER'
            : undefined;
      if (!policy) return fail(1);
      return ok(platform.egetkey(identity, { name: 'seal', policy }));
    }
    return fail(2);
  });
}

/** Serves the quoting enclave to the host server; returns the function that stops serving. */
export function serveQuotingEnclave(mailbox: SharedArrayBuffer, platform: SimPlatform): () => void {
  const qe = new SimQuotingEnclave(platform);
  return serveMailbox(mailbox, (op, data) => {
    if (op === QeOp.TARGET_INFO) {
      const t = qe.targetInfo();
      return ok(
        encodeTargetInfo({
          mrenclave: t.mrenclave,
          attributes: encodeAttributes(t.attributes),
          miscselect: t.miscselect,
        }),
      );
    }
    if (op === QeOp.QUOTE) return data.length === REPORT_SIZE ? ok(qe.quote(data)) : fail(1);
    return fail(2);
  });
}
