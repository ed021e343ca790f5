/** `clock_res_get`, `clock_time_get`; CPU-time clocks count monotonic time since start. */
import { Errno, WasiError } from '../../../interface/errno.ts';
import type { WasiContext } from '../context.ts';
import { ClockId } from './layout.ts';

/** The current time of clock `id` in nanoseconds; INVAL for an unknown clock. */
export function now(ctx: WasiContext, id: number): bigint {
  switch (id) {
    case ClockId.REALTIME:
      return ctx.clock.realtimeNs();
    case ClockId.MONOTONIC:
      return ctx.clock.monotonicNs();
    case ClockId.PROCESS_CPUTIME:
    case ClockId.THREAD_CPUTIME:
      return ctx.clock.monotonicNs() - ctx.startNs;
    default:
      throw new WasiError(Errno.INVAL);
  }
}

export function clock_res_get(ctx: WasiContext, id: number, resolutionPtr: number): number {
  if (id < 0 || id > ClockId.THREAD_CPUTIME) return Errno.INVAL;
  ctx.memory.view().setBigUint64(resolutionPtr, ctx.clock.resolutionNs(), true);
  return 0;
}

export function clock_time_get(ctx: WasiContext, id: number, _precision: bigint, timePtr: number): number {
  ctx.memory.view().setBigUint64(timePtr, now(ctx, id), true);
  return 0;
}
