import { Errno } from '../../interface/errno.ts';

/** What the minimal WASI layer of ext2fs.wasm needs from its host. */
export interface MiniWasiOptions {
  /** Receives each line libext2fs writes to stdout or stderr. */
  log: (line: string) => void;
  /** Wall-clock time in nanoseconds since the Unix epoch (timestamps of written inodes). */
  now: () => bigint;
}

/** Thrown when the module calls `proc_exit` (libext2fs aborting): the instance is unusable after it. */
export class WasmExit extends Error {
  constructor(readonly code: number) {
    super(`ext2fs.wasm exited with code ${code}`);
    this.name = 'WasmExit';
  }
}

/**
 * The few WASI preview1 functions the ext2fs.wasm reactor imports, served inside the enclave: output
 * goes to a log callback, the clock to the given time source, the environment is empty and there are
 * no files. `memory` is called on each use because `memory.grow` replaces the buffer.
 */
export function miniWasiImports(
  memory: () => ArrayBuffer,
  options: MiniWasiOptions,
): Record<string, (...args: never[]) => unknown> {
  const pending = new Map<number, string>();
  const decoder = new TextDecoder();
  return {
    fd_write(fd: number, iovs: number, iovsLen: number, nwritten: number): number {
      const view = new DataView(memory());
      let total = 0;
      let text = '';
      for (let i = 0; i < iovsLen; i++) {
        const ptr = view.getUint32(iovs + i * 8, true);
        const len = view.getUint32(iovs + i * 8 + 4, true);
        text += decoder.decode(new Uint8Array(memory(), ptr, len));
        total += len;
      }
      if (fd !== 1 && fd !== 2) return Errno.BADF;
      const lines = ((pending.get(fd) ?? '') + text).split('\n');
      pending.set(fd, lines.pop() ?? '');
      for (const line of lines) options.log(line);
      view.setUint32(nwritten, total, true);
      return Errno.SUCCESS;
    },
    clock_time_get(_id: number, _precision: bigint, out: number): number {
      new DataView(memory()).setBigUint64(out, options.now(), true);
      return Errno.SUCCESS;
    },
    environ_sizes_get(count: number, size: number): number {
      const view = new DataView(memory());
      view.setUint32(count, 0, true);
      view.setUint32(size, 0, true);
      return Errno.SUCCESS;
    },
    environ_get(): number {
      return Errno.SUCCESS;
    },
    fd_close(): number {
      return Errno.BADF;
    },
    fd_fdstat_get(): number {
      return Errno.BADF;
    },
    fd_seek(): number {
      return Errno.BADF;
    },
    proc_exit(code: number): never {
      throw new WasmExit(code);
    },
  };
}
