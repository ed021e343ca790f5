/**
 * Serves an `EnclavePlatform` on the enclave's two mailboxes, the same for every backend: the
 * platform mailbox (EREPORT, EGETKEY: the enclave's instructions, trusted) and the quoting mailbox
 * (TARGETINFO, QUOTE: relayed by the untrusted host server). A malformed request or a refusal is a
 * non-zero status; the enclave fails closed on it.
 */
import { type MailboxReply, serveMailbox } from '../interface/mailbox.ts';
import {
  PlatformOp,
  QeOp,
  REPORT_DATA_SIZE,
  REPORT_SIZE,
  SEAL_POLICY,
  TARGET_INFO_SIZE,
} from '../interface/platform.ts';
import type { EnclavePlatform } from './backend.ts';

const ok = (data: Uint8Array): MailboxReply => ({ status: 0, data });
const fail = (status: number): MailboxReply => ({ status, data: new Uint8Array(0) });

/** Serves both mailboxes; returns the function that stops serving. */
export function servePlatformMailboxes(
  platform: EnclavePlatform,
  platformMailbox: SharedArrayBuffer,
  qeMailbox: SharedArrayBuffer,
): () => void {
  const stops = [
    serveMailbox(platformMailbox, (op, data) => {
      if (op === PlatformOp.EREPORT) {
        if (data.length !== TARGET_INFO_SIZE + REPORT_DATA_SIZE) return fail(1);
        return ok(platform.localReport(data.subarray(0, TARGET_INFO_SIZE), data.subarray(TARGET_INFO_SIZE)));
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
        return ok(platform.sealKey(policy));
      }
      return fail(2);
    }),
    serveMailbox(qeMailbox, async (op, data) => {
      if (op === QeOp.TARGET_INFO) return ok(platform.quoteTarget());
      if (op === QeOp.QUOTE) return data.length === REPORT_SIZE ? ok(await platform.quote(data)) : fail(1);
      return fail(2);
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
