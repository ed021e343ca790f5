/**
 * The host side of `--net`: one node:dgram UDP socket that carries the enclave's WireGuard
 * datagrams, and the two host calls that reach it (`net_send_batch`, `net_recv_batch`). The socket
 * lives on the launcher's event loop; the host-call server thread, which serves the ring
 * synchronously, reaches it through a mailbox. The host never sees more than the datagrams: their
 * sizes, times and outer addresses. The two calls' handlers are in `calls/datagrams.ts`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { serveMailbox, type MailboxReply } from '../interface/mailbox.ts';
import {
  DatagramOp,
  RECEIVE_HEADER,
  decodeDatagrams,
  encodeDatagrams,
  entrySize,
  type OuterDatagram,
} from '../interface/net-datagrams.ts';
import { MAX_RECEIVE_WAIT_MS } from './calls/datagrams.ts';

/** Received datagrams waiting for the enclave; beyond this the socket drops (as a full kernel buffer does). */
const QUEUE_LIMIT = 4096;

export class HostDatagramSocket {
  readonly #socket: Socket;
  readonly #queue: OuterDatagram[] = [];
  #wake: (() => void) | undefined;
  /** Datagrams dropped because the enclave did not collect them in time. */
  dropped = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (msg, rinfo) => {
      if (rinfo.family !== 'IPv4' || msg.length === 0) return;
      if (this.#queue.length >= QUEUE_LIMIT) {
        this.dropped++;
        return;
      }
      this.#queue.push({ data: new Uint8Array(msg), address: rinfo.address, port: rinfo.port });
      this.#wake?.();
    });
    // A datagram the kernel refuses (ICMP unreachable) is the network's loss, not the run's end.
    socket.on('error', () => {});
  }

  /** Binds a UDP socket on `port` (0: any free one) of `address`. */
  static open(port: number, address = '0.0.0.0'): Promise<HostDatagramSocket> {
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.removeListener('error', reject);
        resolve(new HostDatagramSocket(socket));
      });
    });
  }

  get port(): number {
    return this.#socket.address().port;
  }

  send(datagrams: readonly OuterDatagram[]): number {
    for (const d of datagrams) this.#socket.send(d.data, d.port, d.address);
    return datagrams.length;
  }

  /** What arrived, at most `maxCount` datagrams and `maxBytes` encoded; waits up to `waitMs` for the first. */
  async receive(waitMs: number, maxCount: number, maxBytes: number): Promise<OuterDatagram[]> {
    if (this.#queue.length === 0 && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(waitMs, MAX_RECEIVE_WAIT_MS));
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#wake = done;
      });
      this.#wake = undefined;
    }
    const out: OuterDatagram[] = [];
    let bytes = 0;
    while (out.length < maxCount && this.#queue.length > 0) {
      const size = entrySize(this.#queue[0]!);
      if (bytes + size > maxBytes) break;
      bytes += size;
      out.push(this.#queue.shift()!);
    }
    return out;
  }

  close(): void {
    this.#wake?.();
    this.#socket.close();
  }
}

/** Serves the host-call server's datagram requests on the launcher's event loop; returns the stop function. */
export function serveDatagrams(mailbox: SharedArrayBuffer, socket: HostDatagramSocket): () => void {
  return serveMailbox(mailbox, async (op, data): Promise<MailboxReply> => {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (op === DatagramOp.SEND) {
      const count = view.getUint32(0, true);
      const sent = socket.send(decodeDatagrams(data.subarray(4), count));
      return { status: 0, data: Uint8Array.of(sent & 255, sent >> 8) };
    }
    if (op === DatagramOp.RECEIVE && data.length === RECEIVE_HEADER) {
      const got = await socket.receive(
        view.getUint32(0, true),
        view.getUint32(4, true),
        view.getUint32(8, true),
      );
      const out = new Uint8Array(4 + got.reduce((n, d) => n + entrySize(d), 0));
      new DataView(out.buffer).setUint32(0, got.length, true);
      encodeDatagrams(got, out.subarray(4));
      return { status: 0, data: out };
    }
    return { status: 1, data: new Uint8Array(0) };
  });
}
