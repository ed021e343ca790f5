/**
 * The socket calls WASI preview1 lacks, as the import module `cloister_sock`, shaped like WASIX's
 * `sock_*` calls (same set, same argument order; the address layout is this module's own):
 *
 *   sock_open(af, type, proto, *fd)     af 1 (inet); type SOCK_STREAM (6) or SOCK_DGRAM (5),
 *                                       | SOCK_NONBLOCK (0x4000)
 *   sock_bind(fd, *addr)                sock_listen(fd, backlog)        sock_connect(fd, *addr)
 *   sock_addr_local(fd, *addr)          sock_addr_peer(fd, *addr)       sock_set_opt_flag(fd, opt, flag)
 *   sock_send_to(fd, *iovs, iovs_len, si_flags, *addr, *nsent)
 *   sock_recv_from(fd, *iovs, iovs_len, ri_flags, *nread, *ro_flags, *addr)
 *   resolve(*name, name_len, port, *addrs, naddrs, *count)   numeric, localhost, wg.conf's [Hosts]
 *
 * An address is 8 bytes: family (u16, 1 = inet), port (u16, host order), IPv4 address (4 bytes,
 * network order). Each call returns a WASI errno. examples/net/shim/ has the C side (socket(),
 * bind(), connect(), getaddrinfo() ... over these) for programs built against wasi-libc. Without
 * `--net` every call fails with NETDOWN.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import type { WasiContext } from '../libos/context.ts';
import { Fd, type Readiness, type Socket } from '../libos/fd.ts';
import { FdFlags, Rights } from '../libos/wasi/layout.ts';
import { iovecs } from '../libos/wasi/iovec.ts';
import { formatIPv4, parseIPv4 } from './ipv4.ts';
import type { NetStack } from './netstack.ts';
import {
  STREAM_RIGHTS,
  LISTENER_RIGHTS,
  TcpListenerFd,
  TcpStreamFd,
  type SocketAddress,
} from './socket-fd.ts';
import { UdpSocketFd } from './udp-fd.ts';

export const SOCKET_MODULE = 'cloister_sock';

const AF_INET = 1;
const SOCK_STREAM = FileType.SOCKET_STREAM;
const SOCK_DGRAM = FileType.SOCKET_DGRAM;
const SOCK_NONBLOCK = 0x4000;
const SOCK_CLOEXEC = 0x2000;
const ADDR_BYTES = 8;
/** Options taken and ignored (lwIP has no such knobs here, or they are always on): reuseaddr, keepalive, nodelay. */
const KNOWN_OPTIONS = new Set([1, 2, 3, 4, 5, 6, 7]);

/** A socket made by sock_open, before bind+listen or connect makes it a listener or a connection. */
class OpenSocketFd extends Fd implements Socket {
  readonly filetype = FileType.SOCKET_STREAM;
  bound: SocketAddress | undefined;

  constructor(flags: number) {
    super(STREAM_RIGHTS | LISTENER_RIGHTS, STREAM_RIGHTS, flags);
  }
  override socket(): Socket {
    return this;
  }
  accept(): Fd {
    throw new WasiError(Errno.INVAL);
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
  override read(): number {
    throw new WasiError(Errno.NOTCONN);
  }
  override write(): number {
    throw new WasiError(Errno.NOTCONN);
  }
  override pollRead(): Readiness {
    return { ready: true, nbytes: 0n, hangup: true };
  }
  override pollWrite(): Readiness {
    return { ready: true, nbytes: 0n, hangup: true };
  }
}

function readAddress(ctx: WasiContext, ptr: number): SocketAddress {
  const v = ctx.memory.view();
  if (ptr + ADDR_BYTES > v.byteLength) throw new WasiError(Errno.FAULT);
  if (v.getUint16(ptr, true) !== AF_INET) throw new WasiError(Errno.AFNOSUPPORT);
  return { port: v.getUint16(ptr + 2, true), address: formatIPv4(v.getUint32(ptr + 4, false)) };
}

function writeAddress(ctx: WasiContext, ptr: number, a: SocketAddress): void {
  const v = ctx.memory.view();
  if (ptr + ADDR_BYTES > v.byteLength) throw new WasiError(Errno.FAULT);
  v.setUint16(ptr, AF_INET, true);
  v.setUint16(ptr + 2, a.port, true);
  v.setUint32(ptr + 4, parseIPv4(a.address) ?? 0, false);
}

type SocketHandler = (ctx: WasiContext, ...args: never[]) => number;

/** Waits for a blocking connect to complete or fail; returns its errno. */
function finishConnect(n: NetStack, stream: TcpStreamFd): number {
  const state = n.conn(stream.id);
  n.waitUntil(() => state.connected || state.error !== 0);
  stream.connecting = false;
  return state.error;
}

/** The `cloister_sock` functions over the enclave's network (undefined: no `--net`). */
export function socketCalls(net: NetStack | undefined): Record<string, SocketHandler> {
  const network = (): NetStack => {
    if (!net) throw new WasiError(Errno.NETDOWN, 'no network: run with --net wg.conf');
    return net;
  };
  const open = (ctx: WasiContext, fd: number): OpenSocketFd => {
    const entry = ctx.fds.get(fd);
    if (entry instanceof OpenSocketFd) return entry;
    if (entry instanceof TcpListenerFd || entry instanceof TcpStreamFd) throw new WasiError(Errno.ISCONN);
    throw new WasiError(Errno.NOTSOCK);
  };
  /** Puts `replacement` where `fd` was (the same number, the same flags). */
  const become = (ctx: WasiContext, fd: number, replacement: Fd): void => {
    replacement.flags = ctx.fds.get(fd).flags;
    ctx.fds.renumber(ctx.fds.add(replacement), fd);
  };
  return {
    sock_open(ctx: WasiContext, af: number, type: number, proto: number, fdPtr: number): number {
      const n = network();
      if (af !== AF_INET) throw new WasiError(Errno.AFNOSUPPORT);
      const kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
      const flags = type & SOCK_NONBLOCK ? FdFlags.NONBLOCK : 0;
      let socket: Fd;
      if (kind === SOCK_STREAM && (proto === 0 || proto === 6)) socket = new OpenSocketFd(flags);
      else if (kind === SOCK_DGRAM && (proto === 0 || proto === 17)) socket = new UdpSocketFd(n, flags);
      else throw new WasiError(Errno.PROTONOSUPPORT);
      ctx.memory.view().setUint32(fdPtr, ctx.fds.add(socket), true);
      return 0;
    },
    sock_bind(ctx: WasiContext, fd: number, addrPtr: number): number {
      const udp = ctx.fds.get(fd);
      if (udp instanceof UdpSocketFd) {
        udp.bind(readAddress(ctx, addrPtr));
        return 0;
      }
      const socket = open(ctx, fd);
      if (socket.bound) throw new WasiError(Errno.INVAL);
      socket.bound = readAddress(ctx, addrPtr);
      return 0;
    },
    sock_listen(ctx: WasiContext, fd: number, _backlog: number): number {
      if (ctx.fds.get(fd) instanceof UdpSocketFd) throw new WasiError(Errno.NOTSUP);
      const socket = open(ctx, fd);
      const at = socket.bound ?? { address: '0.0.0.0', port: 0 };
      const n = network();
      const id = n.listen(at.address, at.port);
      become(ctx, fd, new TcpListenerFd(n, id, 0, { address: at.address, port: n.stack.tcpLocalPort(id) }));
      return 0;
    },
    sock_connect(ctx: WasiContext, fd: number, addrPtr: number): number {
      const entry = ctx.fds.get(fd);
      if (entry instanceof UdpSocketFd) {
        entry.connect(readAddress(ctx, addrPtr));
        return 0;
      }
      const to = readAddress(ctx, addrPtr);
      if (entry instanceof TcpStreamFd && entry.connecting) {
        // The same blocking connect again, after its thread waited (threads/blocking.ts).
        if (entry.peer?.address !== to.address || entry.peer.port !== to.port)
          throw new WasiError(Errno.ALREADY);
        return finishConnect(network(), entry);
      }
      const socket = open(ctx, fd);
      if (to.port === 0 || to.address === '0.0.0.0') throw new WasiError(Errno.INVAL);
      const n = network();
      const nonblocking = (socket.flags & FdFlags.NONBLOCK) !== 0;
      const id = n.connect(to.address, to.port);
      const stream = new TcpStreamFd(n, id, 0, to);
      become(ctx, fd, stream);
      if (nonblocking) return Errno.INPROGRESS;
      stream.connecting = true;
      return finishConnect(n, stream);
    },
    sock_addr_local(ctx: WasiContext, fd: number, addrPtr: number): number {
      const entry = ctx.fds.get(fd);
      if (entry instanceof OpenSocketFd)
        writeAddress(ctx, addrPtr, entry.bound ?? { address: '0.0.0.0', port: 0 });
      else if (entry instanceof TcpListenerFd || entry instanceof TcpStreamFd || entry instanceof UdpSocketFd)
        writeAddress(ctx, addrPtr, entry.local());
      else throw new WasiError(Errno.NOTSOCK);
      return 0;
    },
    sock_addr_peer(ctx: WasiContext, fd: number, addrPtr: number): number {
      const entry = ctx.fds.get(fd);
      if (entry instanceof UdpSocketFd) {
        const peer = entry.peer();
        if (!peer) throw new WasiError(Errno.NOTCONN);
        writeAddress(ctx, addrPtr, peer);
        return 0;
      }
      if (!(entry instanceof TcpStreamFd)) {
        throw new WasiError(
          entry instanceof OpenSocketFd || entry instanceof TcpListenerFd ? Errno.NOTCONN : Errno.NOTSOCK,
        );
      }
      if (!entry.peer) throw new WasiError(Errno.NOTSUP, 'the peer of an accepted connection is not known');
      writeAddress(ctx, addrPtr, entry.peer);
      return 0;
    },
    sock_set_opt_flag(ctx: WasiContext, fd: number, option: number, _flag: number): number {
      ctx.fds.get(fd).socket();
      if (!KNOWN_OPTIONS.has(option)) throw new WasiError(Errno.NOPROTOOPT);
      return 0;
    },
    sock_send_to(
      ctx: WasiContext,
      fd: number,
      iovs: number,
      iovsLen: number,
      _flags: number,
      addrPtr: number,
      nsentPtr: number,
    ): number {
      const entry = ctx.fds.get(fd, Rights.FD_WRITE);
      if (!(entry instanceof UdpSocketFd)) {
        entry.socket();
        if (entry instanceof TcpStreamFd)
          throw new WasiError(Errno.ISCONN, 'a stream socket sends to its peer only');
        throw new WasiError(Errno.NOTCONN);
      }
      const to = readAddress(ctx, addrPtr);
      const count = entry.sendTo(iovecs(ctx.memory, iovs, iovsLen), to);
      ctx.memory.view().setUint32(nsentPtr, count, true);
      return 0;
    },
    sock_recv_from(
      ctx: WasiContext,
      fd: number,
      iovs: number,
      iovsLen: number,
      flags: number,
      nreadPtr: number,
      roFlagsPtr: number,
      addrPtr: number,
    ): number {
      const entry = ctx.fds.get(fd, Rights.FD_READ);
      const bufs = iovecs(ctx.memory, iovs, iovsLen);
      // Checked before a datagram is taken, so a bad pointer loses none.
      for (const [ptr, size] of [
        [nreadPtr, 4],
        [roFlagsPtr, 2],
        [addrPtr, ADDR_BYTES],
      ])
        if (ptr! + size! > ctx.memory.view().byteLength) throw new WasiError(Errno.FAULT);
      let got: { count: number; flags: number; from: SocketAddress | undefined };
      if (entry instanceof UdpSocketFd) got = entry.recvFrom(bufs, flags);
      else if (entry instanceof TcpStreamFd) got = { ...entry.recv(bufs, flags), from: entry.peer };
      else {
        entry.socket();
        throw new WasiError(Errno.NOTCONN);
      }
      const v = ctx.memory.view();
      v.setUint32(nreadPtr, got.count, true);
      v.setUint16(roFlagsPtr, got.flags, true);
      writeAddress(ctx, addrPtr, got.from ?? { address: '0.0.0.0', port: 0 });
      return 0;
    },
    resolve(
      ctx: WasiContext,
      namePtr: number,
      nameLen: number,
      port: number,
      addrsPtr: number,
      naddrs: number,
      countPtr: number,
    ): number {
      const n = network();
      // Numeric addresses, localhost and the configuration's [Hosts]: the tunnel has no DNS, and
      // the host must not learn which names a program looks up.
      if (nameLen > 255) throw new WasiError(Errno.INVAL);
      const address = n.hosts.resolve(ctx.memory.readString(namePtr, nameLen));
      if (address === undefined) throw new WasiError(Errno.NOENT);
      if (naddrs > 0) writeAddress(ctx, addrsPtr, { address, port: port & 0xffff });
      ctx.memory.view().setUint32(countPtr, naddrs > 0 ? 1 : 0, true);
      return 0;
    },
  };
}
