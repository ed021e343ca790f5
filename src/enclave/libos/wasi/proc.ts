/** `proc_exit`, `proc_raise`, `sched_yield`. */
import { Errno } from '../../../interface/errno.ts';
import type { WasiContext } from '../context.ts';

/** Thrown by `proc_exit` to unwind the program; `Wasi.start` catches it. */
export class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
    this.name = 'ProcExit';
  }
}

export function proc_exit(_ctx: WasiContext, code: number): number {
  throw new ProcExit(code >>> 0);
}

/** Signals are not part of WASI's model; wasmtime does not deliver them either. */
export function proc_raise(_ctx: WasiContext, _signal: number): number {
  return Errno.NOSYS;
}

/**
 * Returns at once: a single-threaded program has nothing to yield to, and the threads of a
 * threaded one are real threads that the platform schedules (docs/architecture.md, "Threads").
 */
export function sched_yield(_ctx: WasiContext): number {
  return 0;
}
