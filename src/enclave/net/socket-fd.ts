/**
 * TCP sockets as WASI descriptors: a listener (`--tcplisten`, or `listen` of the socket module) and
 * a connection. Reads, writes, accepts and polls that would block pump the network (NetStack) until
 * they can go on; with FdFlags.NONBLOCK set they fail with AGAIN instead.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import type { Stat } from '../vfs/index.ts';
import { Fd, type Readiness, type Socket } from '../libos/fd.ts';
import { FdFlags, Rights, SdFlags } from '../libos/wasi/layout.ts';
import type { NetStack } from './netstack.ts';
import { WouldBlock } from '../threads/blocking.ts';

/** An IPv4 socket address. */
export interface SocketAddress {
  address: string;
  port: number;
}

const NOT_READY: Readiness = { ready: false, nbytes: 0n, hangup: false };

/**
 * A wait that did not complete: AGAIN of a non-blocking socket, or a wait handed back to the
 * calling thread (threads/blocking.ts), after which the call is made again. A call that has
 * already moved bytes returns their count instead, so the retry repeats nothing.
 */
function isUnfinishedWait(error: unknown): boolean {
  return (error instanceof WasiError && error.errno === Errno.AGAIN) || error instanceof WouldBlock;
}

/** Rights of a connected socket. */
export const STREAM_RIGHTS =
  Rights.FD_READ |
  Rights.FD_WRITE |
  Rights.FD_FDSTAT_SET_FLAGS |
  Rights.FD_FILESTAT_GET |
  Rights.POLL_FD_READWRITE |
  Rights.SOCK_SHUTDOWN;

/** Rights of a listening socket. */
export const LISTENER_RIGHTS =
  Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE | Rights.SOCK_ACCEPT;

const RECV_PEEK = 1;
const RECV_WAITALL = 2;
/** The most one MSG_PEEK looks ahead (lwIP's receive window). */
export const PEEK_MAX = 256 * 1024;

function socketStat(): Stat {
  return {
    dev: 0n,
    ino: 0n,
    filetype: FileType.SOCKET_STREAM,
    nlink: 1n,
    size: 0n,
    atimNs: 0n,
    mtimNs: 0n,
    ctimNs: 0n,
  };
}

/** Waits `timeoutNs` on the network (0n: just takes what has arrived). */
function pumpFor(net: NetStack, timeoutNs: bigint): void {
  net.pump(Number(timeoutNs) / 1e6);
}

export class TcpListenerFd extends Fd implements Socket {
  readonly filetype = FileType.SOCKET_STREAM;

  constructor(
    private readonly net: NetStack,
    readonly id: number,
    flags: number,
    private readonly bound: SocketAddress,
  ) {
    super(LISTENER_RIGHTS, STREAM_RIGHTS, flags);
  }

  local(): SocketAddress {
    return this.bound;
  }

  override socket(): Socket {
    return this;
  }

  accept(flags: number): Fd {
    if (flags & ~FdFlags.NONBLOCK) throw new WasiError(Errno.INVAL);
    if (this.net.pendingAccepts(this.id) === 0) {
      if (this.flags & FdFlags.NONBLOCK) {
        this.net.pump(0);
        if (this.net.pendingAccepts(this.id) === 0) throw new WasiError(Errno.AGAIN);
      } else this.net.waitUntil(() => this.net.pendingAccepts(this.id) > 0);
    }
    const conn = this.net.takeAccepted(this.id);
    if (conn === undefined) throw new WasiError(Errno.AGAIN);
    const { peer, local } = this.net.conn(conn);
    return new TcpStreamFd(
      this.net,
      conn,
      flags & FdFlags.NONBLOCK,
      peer,
      local?.address ?? this.bound.address,
    );
  }

  recv(): { count: number; flags: number } {
    throw new WasiError(Errno.NOTCONN);
  }
  send(): number {
    throw new WasiError(Errno.NOTCONN);
  }
  shutdown(): void {
    throw new WasiError(Errno.NOTCONN);
  }

  override pollRead(timeoutNs: bigint): Readiness {
    if (this.net.pendingAccepts(this.id) === 0) pumpFor(this.net, timeoutNs);
    const n = this.net.pendingAccepts(this.id);
    return n > 0 ? { ready: true, nbytes: BigInt(n), hangup: false } : NOT_READY;
  }
  override pollWrite(): Readiness {
    return NOT_READY;
  }
  /** poll_oneoff waits on the network through this (see NetWaiter in wasi/poll.ts). */
  waitNetwork(timeoutNs: bigint): void {
    pumpFor(this.net, timeoutNs);
  }
  override stat(): Stat {
    return socketStat();
  }
  override close(): void {
    this.net.close(this.id);
  }
}

export class TcpStreamFd extends Fd implements Socket {
  readonly filetype = FileType.SOCKET_STREAM;
  #readShut = false;
  #closed = false;
  /** A blocking connect whose wait was handed back to its thread: the retried connect waits on. */
  connecting = false;
  /** Bytes MSG_PEEK took out of lwIP and no read has consumed yet: reads drain them first. */
  #peeked = new Uint8Array(0);

  /**
   * `peer`: where an outbound connection goes, or where an accepted one comes from.
   * `localAddress`: the address an accepted connection was made to, or the interface's.
   */
  constructor(
    private readonly net: NetStack,
    readonly id: number,
    flags = 0,
    readonly peer?: SocketAddress,
    private readonly localAddress = net.address,
  ) {
    super(STREAM_RIGHTS, STREAM_RIGHTS, flags);
  }

  local(): SocketAddress {
    return { address: this.localAddress, port: this.net.stack.tcpLocalPort(this.id) };
  }

  override socket(): Socket {
    return this;
  }

  accept(): Fd {
    throw new WasiError(Errno.INVAL);
  }

  /** Received bytes not yet read (peeked ones included). */
  #pending(): number {
    return this.#peeked.length + this.net.stack.tcpPending(this.id);
  }

  /** Whether a read would return now: data, end of stream or an error. */
  #readable(): boolean {
    const c = this.net.conn(this.id);
    return this.#readShut || c.eof || c.error !== 0 || this.#pending() > 0;
  }

  #waitFor(ready: () => boolean): void {
    if (ready()) return;
    if (this.flags & FdFlags.NONBLOCK) {
      this.net.pump(0);
      if (!ready()) throw new WasiError(Errno.AGAIN);
      return;
    }
    this.net.waitUntil(ready);
  }

  override read(dst: Uint8Array): number {
    if (dst.length === 0) return 0;
    const c = this.net.conn(this.id);
    if (!c.connected && c.error === 0) this.#waitFor(() => c.connected || c.error !== 0);
    this.#waitFor(() => this.#readable());
    if (this.#readShut) return 0;
    if (this.#peeked.length > 0) {
      const n = Math.min(dst.length, this.#peeked.length);
      dst.set(this.#peeked.subarray(0, n));
      this.#peeked = this.#peeked.subarray(n);
      return n;
    }
    const bytes = this.net.run((s) =>
      s.tcpPending(this.id) > 0 ? s.tcpRecv(this.id, dst.length) : undefined,
    );
    if (bytes !== undefined) {
      dst.set(bytes);
      return bytes.length;
    }
    if (c.eof) return 0;
    throw new WasiError(c.error || Errno.CONNRESET);
  }

  override write(src: Uint8Array): number {
    let done = 0;
    while (done < src.length) {
      const c = this.net.conn(this.id);
      if (c.error !== 0) {
        if (done > 0) return done;
        throw new WasiError(c.error === Errno.CONNRESET ? Errno.PIPE : c.error);
      }
      if (!c.connected || c.sendFull) {
        try {
          this.#waitFor(() => (c.connected && !c.sendFull) || c.error !== 0);
        } catch (error) {
          if (done > 0 && isUnfinishedWait(error)) return done;
          throw error;
        }
        continue;
      }
      // Marked full before the step: a `sent` event taken in the step clears it again.
      c.sendFull = true;
      const n = this.net.run((s) => s.tcpSend(this.id, src.subarray(done)));
      done += n;
      if (n > 0 && done === src.length) c.sendFull = false;
    }
    return done;
  }

  recv(bufs: Uint8Array[], flags: number): { count: number; flags: number } {
    const waitAll = (flags & RECV_WAITALL) !== 0;
    if (flags & RECV_PEEK) return { count: this.#peek(bufs, waitAll), flags: 0 };
    let count = 0;
    for (const buf of bufs) {
      let filled = 0;
      while (filled < buf.length) {
        // Only the first read may wait, unless the caller asked for all of it.
        if (count > 0 && !waitAll && this.#pending() === 0) return { count, flags: 0 };
        let n: number;
        try {
          n = this.read(buf.subarray(filled));
        } catch (error) {
          if (count > 0 && isUnfinishedWait(error)) return { count, flags: 0 };
          throw error;
        }
        if (n === 0) return { count, flags: 0 };
        filled += n;
        count += n;
        if (!waitAll) break;
      }
      if (filled < buf.length) break;
    }
    return { count, flags: 0 };
  }

  /**
   * MSG_PEEK: copies received bytes into `bufs` without consuming them, waiting (unless
   * non-blocking) for at least one byte, or with MSG_WAITALL for all of them, up to PEEK_MAX.
   */
  #peek(bufs: Uint8Array[], waitAll: boolean): number {
    const want = Math.min(
      bufs.reduce((sum, b) => sum + b.length, 0),
      PEEK_MAX,
    );
    if (want === 0) return 0;
    const c = this.net.conn(this.id);
    if (!c.connected && c.error === 0) this.#waitFor(() => c.connected || c.error !== 0);
    for (;;) {
      if (this.#readShut) return 0;
      this.#takeAhead(want);
      const have = this.#peeked.length;
      if (have >= want || (have > 0 && !waitAll) || c.eof || c.error !== 0) break;
      try {
        this.#waitFor(() => this.net.stack.tcpPending(this.id) > 0 || c.eof || c.error !== 0);
      } catch (error) {
        // A wait handed back to the thread propagates: the peeked bytes stay for the retry.
        if (have > 0 && error instanceof WasiError && error.errno === Errno.AGAIN) break;
        throw error;
      }
    }
    if (this.#peeked.length === 0 && !c.eof && c.error !== 0) throw new WasiError(c.error);
    let count = 0;
    for (const buf of bufs) {
      const n = Math.min(buf.length, Math.min(this.#peeked.length, want) - count);
      buf.set(this.#peeked.subarray(count, count + n));
      count += n;
      if (n < buf.length) break;
    }
    return count;
  }

  /** Moves received bytes out of lwIP into the peek buffer until it holds `want` (or lwIP has no more). */
  #takeAhead(want: number): void {
    while (this.#peeked.length < want && this.net.stack.tcpPending(this.id) > 0) {
      const more = this.net.run((s) => s.tcpRecv(this.id, want - this.#peeked.length));
      if (more.length === 0) return;
      const joined = new Uint8Array(this.#peeked.length + more.length);
      joined.set(this.#peeked);
      joined.set(more, this.#peeked.length);
      this.#peeked = joined;
    }
  }

  send(bufs: Uint8Array[], _flags: number): number {
    let count = 0;
    for (const buf of bufs) if (buf.length > 0) count += this.write(buf);
    return count;
  }

  shutdown(how: number): void {
    if (how & SdFlags.RD) this.#readShut = true;
    if (how & SdFlags.WR) {
      const c = this.net.conn(this.id);
      if (c.error !== 0) throw new WasiError(Errno.NOTCONN);
      this.net.run((s) => s.tcpShutdown(this.id));
    }
  }

  override pollRead(timeoutNs: bigint): Readiness {
    if (!this.#readable() && timeoutNs > 0n) pumpFor(this.net, timeoutNs);
    if (!this.#readable()) return NOT_READY;
    const c = this.net.conn(this.id);
    const pending = this.#pending();
    return { ready: true, nbytes: BigInt(pending), hangup: pending === 0 && (c.eof || c.error !== 0) };
  }

  waitNetwork(timeoutNs: bigint): void {
    pumpFor(this.net, timeoutNs);
  }

  override pollWrite(): Readiness {
    const c = this.net.conn(this.id);
    if (c.error !== 0) return { ready: true, nbytes: 0n, hangup: true };
    return c.connected && !c.sendFull ? { ready: true, nbytes: 0n, hangup: false } : NOT_READY;
  }

  override stat(): Stat {
    return socketStat();
  }

  override close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.net.close(this.id);
  }
}
