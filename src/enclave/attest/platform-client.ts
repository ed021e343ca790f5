/**
 * The enclave's SGX instructions, as the sim platform serves them, and the quote the untrusted
 * host relays from the quoting enclave. A quote is checked for shape only: its verifier (the
 * tenant, the key broker) is who judges it.
 */
import { Calls } from '../../interface/calls.ts';
import { mailboxCall } from '../../interface/mailbox.ts';
import {
  PlatformOp,
  QeOp,
  REPORT_DATA_SIZE,
  REPORT_SIZE,
  TARGET_INFO_SIZE,
  targetInfoOfReport,
} from '../../interface/platform.ts';
import type { HostChannel } from '../ring/channel.ts';
import { hostCall } from '../ring/stubs.ts';

export class PlatformError extends Error {
  override name = 'PlatformError';
}

export class Platform {
  constructor(
    private readonly mailbox: SharedArrayBuffer,
    private readonly channel: HostChannel,
  ) {}

  /** EREPORT: a REPORT about this enclave, MACed for the enclave that `targetInfo` names. */
  ereport(targetInfo: Uint8Array, reportData: Uint8Array): Uint8Array {
    if (targetInfo.length !== TARGET_INFO_SIZE || reportData.length !== REPORT_DATA_SIZE) {
      throw new PlatformError('EREPORT takes a 512-byte TARGETINFO and 64 bytes of report data');
    }
    const request = new Uint8Array(TARGET_INFO_SIZE + REPORT_DATA_SIZE);
    request.set(targetInfo);
    request.set(reportData, TARGET_INFO_SIZE);
    const reply = mailboxCall(this.mailbox, PlatformOp.EREPORT, request);
    if (reply.status !== 0 || reply.data.length !== REPORT_SIZE) throw new PlatformError('EREPORT failed');
    return reply.data;
  }

  /** This enclave's own TARGETINFO (for others to target their REPORTs at it). */
  myTargetInfo(): Uint8Array {
    return targetInfoOfReport(
      this.ereport(new Uint8Array(TARGET_INFO_SIZE), new Uint8Array(REPORT_DATA_SIZE)),
    );
  }

  /** EGETKEY for a seal key bound to this enclave (policy 1) or to its signer (policy 2). */
  sealKey(policy: 1 | 2): Uint8Array {
    const reply = mailboxCall(this.mailbox, PlatformOp.EGETKEY_SEAL, Uint8Array.of(policy, 0));
    if (reply.status !== 0 || reply.data.length !== 16) throw new PlatformError('EGETKEY failed');
    return reply.data;
  }

  /** A quote of this enclave with `reportData`: REPORT for the QE, relayed by the host. */
  quote(reportData: Uint8Array): Uint8Array {
    const qe = hostCall(this.channel, Calls.quote, { op: QeOp.TARGET_INFO, report: new Uint8Array(0) });
    if (qe.length !== TARGET_INFO_SIZE)
      throw new PlatformError('the host returned a malformed QE TARGETINFO');
    const report = this.ereport(qe, reportData);
    const quote = hostCall(this.channel, Calls.quote, { op: QeOp.QUOTE, report });
    if (quote.length < 48 + 384 + 4) throw new PlatformError('the host returned a truncated quote');
    return quote;
  }
}
