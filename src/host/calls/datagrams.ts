/**
 * The two datagram calls of `--net`, handed to the launcher's UDP socket (`../net-datagrams.ts`)
 * through its mailbox: the socket lives on the launcher's event loop, this server thread serves
 * the ring synchronously. Without a network (no mailbox) both calls fail with EIO.
 */
import type { Calls } from '../../interface/calls.ts';
import { mailboxCall } from '../../interface/mailbox.ts';
import {
  DatagramOp,
  MAX_BATCH,
  RECEIVE_HEADER,
  encodeDatagrams,
  entrySize,
} from '../../interface/net-datagrams.ts';
import { failure, type HostHandlers } from './serve.ts';

/** The longest the host waits in one `net_recv_batch`, whatever the enclave asked. */
export const MAX_RECEIVE_WAIT_MS = 1_000;

export function datagramHandlers(
  mailbox: SharedArrayBuffer | undefined,
): HostHandlers<Pick<typeof Calls, 'netSendBatch' | 'netRecvBatch'>> {
  const ask = (op: number, body: Uint8Array): Uint8Array => {
    if (mailbox === undefined) throw failure('EIO', 'the run has no network');
    const reply = mailboxCall(mailbox, op, body);
    if (reply.status !== 0) throw failure('EIO', 'the UDP socket refused the request');
    return reply.data;
  };
  return {
    netSendBatch: ({ datagrams }) => {
      const body = new Uint8Array(4 + datagrams.reduce((n, d) => n + entrySize(d), 0));
      new DataView(body.buffer).setUint32(0, datagrams.length, true);
      encodeDatagrams(datagrams, body.subarray(4));
      const reply = ask(DatagramOp.SEND, body);
      if (reply.length !== 2) throw failure('EIO', 'bad reply from the UDP socket');
      return reply[0]! | (reply[1]! << 8);
    },
    netRecvBatch: ({ waitNs, max }, out) => {
      const body = new Uint8Array(RECEIVE_HEADER);
      const view = new DataView(body.buffer);
      view.setUint32(0, Math.min(Math.max(0, Number(waitNs)) / 1e6, MAX_RECEIVE_WAIT_MS), true);
      view.setUint32(4, Math.min(max, MAX_BATCH), true);
      view.setUint32(8, out.length, true);
      const reply = ask(DatagramOp.RECEIVE, body);
      if (reply.length < 4) throw failure('EIO', 'bad reply from the UDP socket');
      const count = new DataView(reply.buffer, reply.byteOffset).getUint32(0, true);
      const batch = reply.subarray(4);
      if (batch.length > out.length) throw failure('EIO', 'the batch is larger than the enclave takes');
      out.set(batch);
      return { count, length: batch.length };
    },
  };
}
