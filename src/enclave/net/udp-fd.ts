/**
 * A UDP socket as a WASI descriptor, over lwIP's UDP: made by `sock_open(SOCK_DGRAM)`, bound by
 * `bind` (or on first use to an ephemeral port, as POSIX does), optionally connected (a default
 * destination, and only datagrams from it are received). One recv returns one datagram: the part
 * that does not fit the buffers is dropped and RECV_DATA_TRUNCATED set. Waits pump the network, as
 * for TCP; with FdFlags.NONBLOCK they fail with AGAIN.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import type { Stat } from '../vfs/index.ts';
import { Fd, type Readiness, type Socket } from '../libos/fd.ts';
import { FdFlags, Rights } from '../libos/wasi/layout.ts';
import type { Datagram } from './lwip.ts';
import type { NetStack } from './netstack.ts';
import type { SocketAddress } from './socket-fd.ts';

const RECV_PEEK = 1;
/** roflags: the datagram was longer than the buffers. */
export const RECV_DATA_TRUNCATED = 1;

export const DGRAM_RIGHTS =
  Rights.FD_READ |
  Rights.FD_WRITE |
  Rights.FD_FDSTAT_SET_FLAGS |
  Rights.FD_FILESTAT_GET |
  Rights.POLL_FD_READWRITE |
  Rights.SOCK_SHUTDOWN;

const NOT_READY: Readiness = { ready: false, nbytes: 0n, hangup: false };

export class UdpSocketFd extends Fd implements Socket {
  readonly filetype = FileType.SOCKET_DGRAM;
  /** lwIP's socket id once bound. */
  #id: number | undefined;
  #local: SocketAddress | undefined;
  #peer: SocketAddress | undefined;
  /** The next datagram for the program, taken out of lwIP's queue (a peek leaves it here). */
  #head: Datagram | undefined;
  #closed = false;

  constructor(
    private readonly net: NetStack,
    flags = 0,
  ) {
    super(DGRAM_RIGHTS, DGRAM_RIGHTS, flags);
  }

  override socket(): Socket {
    return this;
  }

  /** Binds to `at` (0.0.0.0 or the interface's address; port 0: an ephemeral one). */
  bind(at: SocketAddress): void {
    if (this.#id !== undefined) throw new WasiError(Errno.INVAL, 'the socket is already bound');
    if (at.address !== '0.0.0.0' && at.address !== this.net.address)
      throw new WasiError(Errno.ADDRNOTAVAIL, `${at.address} is not this enclave's address`);
    const id = this.net.run((s) => s.udpBind(at.address, at.port));
    this.#id = id;
    this.#local = { address: at.address, port: this.net.stack.udpLocalPort(id) };
  }

  /** Sets the default destination; from then on only its datagrams are received. */
  connect(to: SocketAddress): void {
    if (to.port === 0 || to.address === '0.0.0.0') throw new WasiError(Errno.INVAL, 'not a destination');
    this.#bound();
    this.#peer = to;
    if (this.#head && !this.#fromPeer(this.#head)) this.#head = undefined;
  }

  local(): SocketAddress {
    return this.#local ?? { address: '0.0.0.0', port: 0 };
  }

  peer(): SocketAddress | undefined {
    return this.#peer;
  }

  accept(): Fd {
    throw new WasiError(Errno.NOTSUP);
  }

  /** Sends one datagram made of `bufs` to `to`, or to the connected peer. */
  sendTo(bufs: Uint8Array[], to: SocketAddress | undefined): number {
    const dest = to ?? this.#peer;
    if (!dest) throw new WasiError(Errno.DESTADDRREQ);
    if (dest.port === 0 || dest.address === '0.0.0.0') throw new WasiError(Errno.INVAL, 'not a destination');
    const id = this.#bound();
    const data = bufs.length === 1 ? bufs[0]! : concat(bufs);
    this.net.run((s) => s.udpSendTo(id, data, dest.address, dest.port));
    return data.length;
  }

  send(bufs: Uint8Array[], _flags: number): number {
    return this.sendTo(bufs, undefined);
  }

  override write(src: Uint8Array): number {
    return this.sendTo([src], undefined);
  }

  /** Receives one datagram into `bufs`; `from` is its source. */
  recvFrom(bufs: Uint8Array[], flags: number): { count: number; flags: number; from: SocketAddress } {
    if (!this.#takeHead()) {
      if (this.flags & FdFlags.NONBLOCK) {
        this.net.pump(0);
        if (!this.#takeHead()) throw new WasiError(Errno.AGAIN);
      } else this.net.waitUntil(() => this.#takeHead());
    }
    const d = this.#head!;
    if (!(flags & RECV_PEEK)) this.#head = undefined;
    let count = 0;
    for (const buf of bufs) {
      const n = Math.min(buf.length, d.data.length - count);
      buf.set(d.data.subarray(count, count + n));
      count += n;
    }
    return {
      count,
      flags: count < d.data.length ? RECV_DATA_TRUNCATED : 0,
      from: { address: d.address, port: d.port },
    };
  }

  recv(bufs: Uint8Array[], flags: number): { count: number; flags: number } {
    const { count, flags: out } = this.recvFrom(bufs, flags);
    return { count, flags: out };
  }

  override read(dst: Uint8Array): number {
    return this.recvFrom([dst], 0).count;
  }

  shutdown(): void {
    throw new WasiError(Errno.NOTCONN);
  }

  override pollRead(timeoutNs: bigint): Readiness {
    if (!this.#takeHead() && timeoutNs > 0n) this.net.pump(Number(timeoutNs) / 1e6);
    if (!this.#takeHead()) return NOT_READY;
    return { ready: true, nbytes: BigInt(this.#head!.data.length), hangup: false };
  }

  override pollWrite(): Readiness {
    return { ready: true, nbytes: 0n, hangup: false };
  }

  /** poll_oneoff waits on the network through this (see NetWaiter in wasi/poll.ts). */
  waitNetwork(timeoutNs: bigint): void {
    this.net.pump(Number(timeoutNs) / 1e6);
  }

  override stat(): Stat {
    return {
      dev: 0n,
      ino: 0n,
      filetype: FileType.SOCKET_DGRAM,
      nlink: 1n,
      size: 0n,
      atimNs: 0n,
      mtimNs: 0n,
      ctimNs: 0n,
    };
  }

  override close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#head = undefined;
    const id = this.#id;
    if (id !== undefined) this.net.run((s) => s.udpClose(id));
  }

  /** The lwIP socket, bound to an ephemeral port first if the program did not bind. */
  #bound(): number {
    if (this.#id === undefined) this.bind({ address: '0.0.0.0', port: 0 });
    return this.#id!;
  }

  #fromPeer(d: Datagram): boolean {
    return !this.#peer || (d.address === this.#peer.address && d.port === this.#peer.port);
  }

  /** Whether a datagram for the program waits (taken into #head); others than the peer's are dropped. */
  #takeHead(): boolean {
    const id = this.#id;
    if (id === undefined) return false;
    while (!this.#head) {
      const d = this.net.run((s) => s.udpRecv(id));
      if (!d) return false;
      if (this.#fromPeer(d)) this.#head = d;
    }
    return true;
  }
}

function concat(bufs: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(bufs.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bufs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}
