/** Decoding of `fstflags` for the two set-times calls. */
import { Errno, WasiError } from '../../../interface/errno.ts';
import type { WasiContext } from '../context.ts';
import { FstFlags } from './layout.ts';

/** The access and modification times to set (`null` = unchanged); INVAL for contradictory flags. */
export function timesToSet(
  ctx: WasiContext,
  atim: bigint,
  mtim: bigint,
  flags: number,
): [bigint | null, bigint | null] {
  if (flags & ~15) throw new WasiError(Errno.INVAL);
  if (flags & FstFlags.ATIM && flags & FstFlags.ATIM_NOW) throw new WasiError(Errno.INVAL);
  if (flags & FstFlags.MTIM && flags & FstFlags.MTIM_NOW) throw new WasiError(Errno.INVAL);
  const now = flags & (FstFlags.ATIM_NOW | FstFlags.MTIM_NOW) ? ctx.clock.realtimeNs() : 0n;
  const a = flags & FstFlags.ATIM ? BigInt.asUintN(64, atim) : flags & FstFlags.ATIM_NOW ? now : null;
  const m = flags & FstFlags.MTIM ? BigInt.asUintN(64, mtim) : flags & FstFlags.MTIM_NOW ? now : null;
  return [a, m];
}
