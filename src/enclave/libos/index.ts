/**
 * The library OS's WASI preview1 layer: builds `wasi_snapshot_preview1` imports over the VFS, the
 * console and the clock, and runs a program's `_start`.
 *
 * A call travels: the import (`bindCall`: unsigned arguments, errors to errnos) -> its handler in
 * `wasi/{args,clock,fd,path,poll,proc,random,sock}.ts` (decodes guest memory, looks the descriptor
 * up with the rights it needs, resolves paths with `resolve.ts`) -> the descriptor (`Fd`:
 * `FileFd`, `DirFd`, `StdioFd`) -> the VFS inode or file handle -> for hostdir and the console,
 * the host-call interfaces of `src/interface/services.ts`. The call table in `wasi/table.ts` is
 * data; `docs/wasi-status.md` is generated from it.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import type { ClockSource, ConsoleCalls } from '../../interface/services.ts';
import type { FileSystem } from '../vfs/index.ts';
import { WasiContext, type Sleeper } from './context.ts';
import { DirFd } from './file-fd.ts';
import type { Fd } from './fd.ts';
import { StdioFd } from './stdio-fd.ts';
import { ProcExit } from './wasi/proc.ts';
import { ALL_RIGHTS, DIRECTORY_RIGHTS } from './wasi/layout.ts';
import { WASI_CALLS } from './wasi/table.ts';
import type { WasiHandler } from './wasi/table.ts';

export { ProcExit } from './wasi/proc.ts';
export type { Sleeper } from './context.ts';
export { WASI_CALLS } from './wasi/table.ts';
export type { WasiCall, WasiStatus } from './wasi/table.ts';
export { traceImports } from './trace.ts';
export type { TraceSink } from './trace.ts';

/** A directory the program sees as open from the start, at `guestPath`. */
export interface Preopen {
  guestPath: string;
  fs: FileSystem;
}

export interface WasiOptions {
  /** argv including argv[0]. */
  args: string[];
  /** 'NAME=VALUE' strings. */
  env: string[];
  /** Become descriptors 3, 4, ... in this order (after `sockets`). */
  preopens: Preopen[];
  /** Preopened sockets (`--tcplisten`): descriptors 3, 4, ... before the directories, as in wasmtime. */
  sockets?: Fd[];
  console: ConsoleCalls;
  clock: ClockSource;
  /** How a call that sleeps waits (default: in place). */
  sleep?: Sleeper;
  /** More import modules beyond preview1 (the network's `cloister_sock`), bound like its calls. */
  modules?: Record<string, Record<string, WasiHandler>>;
  /**
   * Runs before every call (`--net`: the network is pumped when due, so connections keep moving
   * while a program makes no socket call). What it throws is a trap, not the call's errno.
   */
  beforeCall?: () => void;
}

type ImportFn = (...args: unknown[]) => unknown;
type AnyHandler = (ctx: WasiContext, ...args: unknown[]) => number;

/**
 * V8's messages for an access outside an ArrayBuffer (a DataView get or set, a typed-array view
 * or `set`): what the handlers' reads and writes of the program's memory throw for a bad pointer.
 * Compared as strings, not with a regular expression: V8 compiles one when it first runs, which a
 * nearly exhausted stack turns into a SyntaxError.
 */
function isOutOfBounds(message: string): boolean {
  return (
    message === 'Offset is outside the bounds of the DataView' ||
    message === 'offset is out of bounds' ||
    (message.startsWith('Start offset ') && message.endsWith(' is outside the bounds of the buffer')) ||
    message.startsWith('Invalid typed array length: ')
  );
}

/**
 * Maps what a handler threw to its errno: FAULT for an access outside memory (a bad pointer of
 * the program). Any other error propagates as a trap, a stack overflow too: it means the
 * program's recursion ran out of stack inside the call, not that the call failed.
 */
function errnoOf(error: unknown): number {
  if (error instanceof WasiError) return error.errno;
  if (error instanceof RangeError && !isStackOverflow(error) && isOutOfBounds(error.message))
    return Errno.FAULT;
  throw error;
}

function isStackOverflow(error: RangeError): boolean {
  return error.message === 'Maximum call stack size exceeded';
}

/**
 * Every i32 parameter of preview1 is unsigned (pointers, lengths, descriptors, flags), but
 * JavaScript receives i32 signed: a pointer above 2 GiB would arrive negative.
 */
function u32(x: unknown): unknown {
  return typeof x === 'number' ? x >>> 0 : x;
}

/** Whether a stack overflow cut a call off inside the library OS (see `Wasi.cutInCall`). */
interface CutRecord {
  inCall: boolean;
}

/** One import: fixed arity (WASI calls take at most 10 arguments) so a call allocates nothing. */
function bindCall(ctx: WasiContext, handler: WasiHandler, cut: CutRecord, before?: () => void): ImportFn {
  const h = handler as unknown as AnyHandler;
  if (before) {
    const call = bindCall(ctx, handler, cut);
    return (a, b, c, d, e, f, g, i, j, k) => {
      before();
      return call(a, b, c, d, e, f, g, i, j, k);
    };
  }
  return (a, b, c, d, e, f, g, i, j, k) => {
    try {
      return h(ctx, u32(a), u32(b), u32(c), u32(d), u32(e), u32(f), u32(g), u32(i), u32(j), u32(k));
    } catch (error) {
      // No call before this store: the stack may have next to nothing left.
      if (error instanceof RangeError && error.message === 'Maximum call stack size exceeded')
        cut.inCall = true;
      return errnoOf(error);
    }
  };
}

export class Wasi {
  readonly imports: { wasi_snapshot_preview1: Record<string, ImportFn> } & Record<
    string,
    Record<string, ImportFn>
  >;
  private readonly ctx: WasiContext;
  private readonly cut: CutRecord = { inCall: false };

  constructor(options: WasiOptions) {
    const ctx = new WasiContext(options.args, options.env, options.console, options.clock, options.sleep);
    for (const stream of [0, 1, 2] as const) ctx.fds.add(new StdioFd(options.console, stream));
    for (const socket of options.sockets ?? []) ctx.fds.add(socket);
    for (const { guestPath, fs } of options.preopens) {
      ctx.fds.add(new DirFd(fs.root(), null, DIRECTORY_RIGHTS, ALL_RIGHTS, guestPath));
    }
    const calls: Record<string, ImportFn> = {};
    for (const call of WASI_CALLS)
      calls[call.name] = bindCall(ctx, call.handler, this.cut, options.beforeCall);
    const modules: Record<string, Record<string, ImportFn>> = {};
    for (const [module, handlers] of Object.entries(options.modules ?? {})) {
      modules[module] = Object.fromEntries(
        Object.entries(handlers).map(([n, h]) => [n, bindCall(ctx, h, this.cut, options.beforeCall)]),
      );
    }
    this.imports = { ...modules, wasi_snapshot_preview1: calls };
    this.ctx = ctx;
  }

  /**
   * True once a stack overflow cut a call off inside the library OS: its state (a file system in
   * the middle of an update) is not to be trusted, and the run ends as after a crash.
   */
  get cutInCall(): boolean {
    return this.cut.inCall;
  }

  /** For a threaded program's kernel, which runs no instance itself: the shared memory the calls use. */
  bindMemory(memory: WebAssembly.Memory): void {
    this.ctx.memory.bind(memory);
  }

  /** Sets how long ago the call about to be made first began (see `WasiContext.callElapsedNs`). */
  setCallElapsed(ns: bigint): void {
    this.ctx.callElapsedNs = ns;
  }

  /** Closes every descriptor: the end of a threaded program. */
  closeAll(): void {
    this.ctx.fds.closeAll();
  }

  /**
   * Binds the instance's exported memory and runs `_start`. Returns the exit code: 0 when
   * `_start` returns, the `proc_exit` code otherwise. Traps propagate. Descriptors are closed
   * at the end either way.
   */
  start(instance: WebAssembly.Instance): number {
    const { memory, _start } = instance.exports;
    if (!(memory instanceof WebAssembly.Memory)) {
      throw new Error('WASI: the module exports no memory named "memory"');
    }
    if (typeof _start !== 'function') throw new Error('WASI: the module exports no "_start" function');
    this.ctx.memory.bind(memory);
    try {
      _start();
      return 0;
    } catch (error) {
      if (error instanceof ProcExit) return error.code;
      throw error;
    } finally {
      this.ctx.fds.closeAll();
    }
  }
}
