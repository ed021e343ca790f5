/**
 * Tracing without edits: wraps WASI imports so that every call is reported with its arguments and
 * errno, like `strace` (after browser_wasi_shim's `strace.ts`). For debugging only: the trace
 * shows what the program does, so it must not leave the enclave in a production run.
 */
import { errnoName } from '../../interface/errno.ts';

/** Receives one line per call: `fd_write(1, 1024, 1, 1020) = SUCCESS`. */
export type TraceSink = (line: string) => void;

type Imports = { wasi_snapshot_preview1: Record<string, (...args: unknown[]) => unknown> };

/** Returns imports that report each call to `sink` before returning its result. */
export function traceImports(imports: Imports, sink: TraceSink): Imports {
  const traced: Imports['wasi_snapshot_preview1'] = {};
  for (const [name, fn] of Object.entries(imports.wasi_snapshot_preview1)) {
    traced[name] = (...args: unknown[]) => {
      let result: unknown;
      try {
        result = fn(...args);
      } catch (error) {
        sink(`${name}(${args.join(', ')}) threw ${(error as Error).name}`);
        throw error;
      }
      sink(
        `${name}(${args.join(', ')}) = ${typeof result === 'number' ? errnoName(result) : String(result)}`,
      );
      return result;
    };
  }
  return { wasi_snapshot_preview1: traced };
}
