/** The state every WASI call works on: memory, descriptors, arguments, console and clock. */
import type { ClockSource, ConsoleCalls } from '../../interface/services.ts';
import { FdTable } from './fd-table.ts';
import { GuestMemory } from './memory.ts';

const encoder = new TextEncoder();

/** NUL-terminated UTF-8 strings laid out as `args_get` / `environ_get` write them. */
export class StringList {
  readonly strings: Uint8Array[];
  readonly bufferSize: number;

  constructor(values: string[]) {
    this.strings = values.map((s) => {
      if (s.includes('\0')) {
        throw new Error(`WASI: argument or environment string contains NUL: ${JSON.stringify(s)}`);
      }
      return encoder.encode(`${s}\0`);
    });
    this.bufferSize = this.strings.reduce((sum, s) => sum + s.length, 0);
  }
}

/** Sleeps the calling thread; a threaded program's kernel hands the wait back to the thread instead. */
export type Sleeper = (ns: bigint) => void;

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps in place, on a private `Atomics.wait`. */
export const sleepInPlace: Sleeper = (ns) => {
  if (ns > 0n) Atomics.wait(sleepCell, 0, 0, Number(ns) / 1e6);
};

export class WasiContext {
  readonly memory = new GuestMemory();
  /**
   * How long ago the current call began, when it is being retried after its thread waited
   * (threads: a call that would block is handed back, the thread waits, then calls again).
   */
  callElapsedNs = 0n;
  readonly fds = new FdTable();
  readonly args: StringList;
  readonly env: StringList;
  /** Monotonic time at start, the zero of the CPU-time clocks. */
  readonly startNs: bigint;

  constructor(
    args: string[],
    env: string[],
    readonly console: ConsoleCalls,
    readonly clock: ClockSource,
    readonly sleep: Sleeper = sleepInPlace,
  ) {
    this.args = new StringList(args);
    this.env = new StringList(env);
    this.startNs = clock.monotonicNs();
  }
}
