/**
 * `sock_accept`, `sock_recv`, `sock_send`, `sock_shutdown`: BADF for a closed descriptor,
 * NOTSOCK for one that is not a socket (wasi-testsuite checks both), otherwise the socket's own.
 */
import { Errno, WasiError } from '../../../interface/errno.ts';
import type { WasiContext } from '../context.ts';
import { iovecs } from './iovec.ts';
import { SdFlags } from './layout.ts';

export function sock_accept(ctx: WasiContext, fd: number, flags: number, fdPtr: number): number {
  const accepted = ctx.fds.get(fd).socket().accept(flags);
  ctx.memory.view().setUint32(fdPtr, ctx.fds.add(accepted), true);
  return 0;
}

export function sock_recv(
  ctx: WasiContext,
  fd: number,
  riData: number,
  riDataLen: number,
  riFlags: number,
  roDataLenPtr: number,
  roFlagsPtr: number,
): number {
  const socket = ctx.fds.get(fd).socket();
  const result = socket.recv(iovecs(ctx.memory, riData, riDataLen), riFlags);
  const v = ctx.memory.view();
  v.setUint32(roDataLenPtr, result.count, true);
  v.setUint16(roFlagsPtr, result.flags, true);
  return 0;
}

export function sock_send(
  ctx: WasiContext,
  fd: number,
  siData: number,
  siDataLen: number,
  siFlags: number,
  soDataLenPtr: number,
): number {
  const socket = ctx.fds.get(fd).socket();
  const count = socket.send(iovecs(ctx.memory, siData, siDataLen), siFlags);
  ctx.memory.view().setUint32(soDataLenPtr, count, true);
  return 0;
}

export function sock_shutdown(ctx: WasiContext, fd: number, how: number): number {
  const socket = ctx.fds.get(fd).socket();
  if (how & ~(SdFlags.RD | SdFlags.WR) || how === 0) throw new WasiError(Errno.INVAL);
  socket.shutdown(how);
  return 0;
}
