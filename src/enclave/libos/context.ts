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

export class WasiContext {
  readonly memory = new GuestMemory();
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
  ) {
    this.args = new StringList(args);
    this.env = new StringList(env);
    this.startNs = clock.monotonicNs();
  }
}
