/**
 * The enclave's end of the two datagram calls. Every reply is checked (net-datagrams.ts): a batch
 * whose count, lengths or addresses do not add up is refused whole and counted, as is a send the
 * host says it did not finish. The host can only lose traffic this way, which it can anyway; the
 * datagrams themselves are WireGuard messages, authenticated before anything believes them.
 */
import { Calls } from '../../interface/calls.ts';
import { Errno, WasiError } from '../../interface/errno.ts';
import {
  DATAGRAM_BATCH_BYTES,
  MAX_BATCH,
  entrySize,
  type OuterDatagram,
} from '../../interface/net-datagrams.ts';
import type { HostChannel } from '../ring/channel.ts';
import { hostCall } from '../ring/stubs.ts';

const pause = new Int32Array(new SharedArrayBuffer(4));
const MAX_PAUSE_MS = 250;

/** How the network reaches the outside: the ring in an enclave, a plain socket in a test. */
export interface DatagramPort {
  send(datagrams: readonly OuterDatagram[]): void;
  /** What has arrived, at most `max` datagrams, waiting up to `waitNs` for the first. */
  receive(waitNs: bigint, max: number): OuterDatagram[];
}

export interface DatagramStats {
  sent: number;
  received: number;
  /** Receive replies refused whole (count, lengths or addresses did not add up). */
  badReplies: number;
  /** Datagrams the host said it did not send, or failed to send. */
  lostSends: number;
}

export class RingDatagrams implements DatagramPort {
  readonly stats: DatagramStats = { sent: 0, received: 0, badReplies: 0, lostSends: 0 };

  constructor(private readonly channel: Pick<HostChannel, 'call'>) {}

  send(datagrams: readonly OuterDatagram[]): void {
    let start = 0;
    while (start < datagrams.length) {
      let end = start;
      let bytes = 0;
      while (
        end < datagrams.length &&
        end - start < MAX_BATCH &&
        bytes + entrySize(datagrams[end]!) <= DATAGRAM_BATCH_BYTES
      )
        bytes += entrySize(datagrams[end++]!);
      if (end === start) {
        // Larger than any batch: no WireGuard message is (the MTU bounds them).
        this.stats.lostSends++;
        start++;
        continue;
      }
      const batch = datagrams.slice(start, end);
      try {
        const sent = hostCall(this.channel, Calls.netSendBatch, { datagrams: batch });
        this.stats.sent += sent;
        this.stats.lostSends += batch.length - sent;
      } catch (error) {
        if (!(error instanceof WasiError)) throw error;
        this.stats.lostSends += batch.length;
      }
      start = end;
    }
  }

  receive(waitNs: bigint, max: number): OuterDatagram[] {
    const limit = Math.max(1, Math.min(max, MAX_BATCH));
    try {
      const got = hostCall(this.channel, Calls.netRecvBatch, {
        waitNs: waitNs < 0n ? 0n : waitNs,
        max: limit,
      });
      this.stats.received += got.length;
      return got;
    } catch (error) {
      // A reply that does not add up is EIO too (stubs.ts).
      if (!(error instanceof WasiError) || error.errno !== Errno.IO) throw error;
      return this.#refused(waitNs);
    }
  }

  /**
   * A refused reply counts, and the wait asked for is then spent here, on a private wait: a host
   * answering every call at once with garbage cannot make the enclave spin on the ring.
   */
  #refused(waitNs: bigint): OuterDatagram[] {
    this.stats.badReplies++;
    if (waitNs > 0n) Atomics.wait(pause, 0, 0, Math.min(Number(waitNs) / 1e6, MAX_PAUSE_MS));
    return [];
  }
}
