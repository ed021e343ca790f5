/**
 * The host side of a tunnel in a test: a node:dgram socket on loopback carries the datagrams of a
 * WireGuardDevice, whose inner packets go to and from an lwIP stack. Every datagram the socket
 * carried is recorded (what a host would see). Small TCP applications run on the stack.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { WireGuardDevice } from '../../../src/enclave/net/wireguard/device.ts';
import type { PeerConfig } from '../../../src/enclave/net/wireguard/device.ts';
import { LwipStack } from '../../../src/enclave/net/lwip.ts';
import type { NetEvent } from '../../../src/enclave/net/lwip.ts';
import { lwipModule } from './lwip-pair.ts';

export interface TunnelHostOptions {
  privateKey: Uint8Array;
  tunnelAddress: string;
  mtu?: number;
  loadThreshold?: number;
}

/** Buffers writes a connection's send buffer could not take yet; flushes them on `sent`. */
class Writer {
  pending: Uint8Array[] = [];
  closeAfter = false;
}

export class TunnelHost {
  socket: Socket;
  readonly device: WireGuardDevice;
  readonly stack: LwipStack;
  /** Every datagram through the host socket, both directions. */
  readonly seen: { dir: 'in' | 'out'; data: Uint8Array }[] = [];
  /** Extra handling of stack events (after writes were flushed). */
  onEvent: (e: NetEvent) => void = () => {};
  /** Drops inbound datagrams when it returns false (the test's hostile network). */
  inboundFilter: (d: Uint8Array) => boolean = () => true;
  readonly #writers = new Map<number, Writer>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: TunnelHostOptions) {
    this.socket = this.#newSocket();
    this.device = new WireGuardDevice({
      privateKey: options.privateKey,
      clock: { nowMs: () => performance.now(), wallMs: () => Date.now() },
      transmit: (datagram, to) => {
        this.seen.push({ dir: 'out', data: datagram });
        this.socket.send(datagram, to.port, to.address);
      },
      deliver: (packet) => {
        this.stack.input(packet);
        this.#drain();
      },
      loadThreshold: options.loadThreshold,
    });
    this.stack = new LwipStack({
      wasm: lwipModule,
      nowMs: () => performance.now(),
      output: (packet) => this.device.send(packet),
    });
    this.stack.up({ address: options.tunnelAddress, prefix: 24, mtu: options.mtu ?? 1420 });
  }

  #newSocket(): Socket {
    const socket = createSocket('udp4');
    socket.on('message', (msg, rinfo) => {
      const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
      this.seen.push({ dir: 'in', data: data.slice() });
      if (!this.inboundFilter(data)) return;
      this.device.receive(data, { address: rinfo.address, port: rinfo.port });
      this.#drain();
    });
    return socket;
  }

  /** Moves to a new UDP port (the host roams): the old socket is closed. Returns the new port. */
  async rebind(): Promise<number> {
    this.socket.close();
    this.socket = this.#newSocket();
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    return this.socket.address().port;
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    this.#timer = setInterval(() => {
      this.device.tick();
      this.stack.tick();
      this.#drain();
    }, 50);
    return this.socket.address().port;
  }

  addPeer(peer: PeerConfig): void {
    this.device.addPeer(peer);
  }

  /** Feeds a datagram as if it had arrived on the socket (for replay and forgery tests). */
  inject(datagram: Uint8Array, from: { address: string; port: number }): void {
    this.device.receive(datagram, from);
    this.#drain();
  }

  /** Queues bytes on a connection; `close` ends the sending side once all are out. */
  write(conn: number, data: Uint8Array, close = false): void {
    const w = this.#writers.get(conn) ?? new Writer();
    this.#writers.set(conn, w);
    w.pending.push(data);
    w.closeAfter ||= close;
    this.#flush(conn, w);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.socket.close();
  }

  #flush(conn: number, w: Writer): void {
    while (w.pending.length > 0) {
      const head = w.pending[0]!;
      const n = this.stack.tcpSend(conn, head);
      if (n < head.length) {
        w.pending[0] = head.subarray(n);
        return;
      }
      w.pending.shift();
    }
    if (w.closeAfter) {
      this.stack.tcpShutdown(conn);
      this.#writers.delete(conn);
    }
  }

  #drain(): void {
    for (let round = 0; round < 100; round++) {
      const events = this.stack.takeEvents();
      if (events.length === 0) return;
      for (const e of events) {
        if (e.kind === 'sent') {
          const w = this.#writers.get(e.conn);
          if (w) this.#flush(e.conn, w);
        }
        if (e.kind === 'error') this.#writers.delete(e.conn);
        this.onEvent(e);
      }
    }
  }
}
