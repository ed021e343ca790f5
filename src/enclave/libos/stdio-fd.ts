/** Descriptors 0, 1 and 2: the console, a character device served by `ConsoleCalls`. */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import type { ConsoleCalls } from '../../interface/services.ts';
import type { Stat } from '../vfs/index.ts';
import { Fd } from './fd.ts';
import type { Readiness } from './fd.ts';
import { FdFlags, STDIO_RIGHTS } from './wasi/layout.ts';

const NOT_READY: Readiness = { ready: false, nbytes: 0n, hangup: false };

export class StdioFd extends Fd {
  constructor(
    private readonly console: ConsoleCalls,
    private readonly stream: 0 | 1 | 2,
  ) {
    super(STDIO_RIGHTS, 0, 0);
  }

  /** A terminal is a character device; a pipe or file behind stdio is not (so isatty() is false). */
  get filetype(): number {
    return this.console.isTerminal?.(this.stream) === false ? FileType.UNKNOWN : FileType.CHARACTER_DEVICE;
  }

  override read(dst: Uint8Array): number {
    if (this.stream !== 0) throw new WasiError(Errno.BADF);
    if (dst.length === 0) return 0;
    if (this.flags & FdFlags.NONBLOCK && !this.console.pollStdin(0n)) throw new WasiError(Errno.AGAIN);
    const data = this.console.readStdin(dst.length);
    if (data.length > dst.length) throw new WasiError(Errno.IO, 'console returned more than asked');
    dst.set(data);
    return data.length;
  }

  override write(src: Uint8Array): number {
    if (this.stream === 0) throw new WasiError(Errno.BADF);
    // A copy: the console may queue it, and must never see the program's memory.
    if (src.length > 0) this.console.write(this.stream, src.slice());
    return src.length;
  }

  override pread(): number {
    throw new WasiError(Errno.SPIPE);
  }
  override pwrite(): number {
    throw new WasiError(Errno.SPIPE);
  }
  override seek(): number {
    throw new WasiError(Errno.SPIPE);
  }

  override stat(): Stat {
    return {
      dev: 0n,
      ino: BigInt(this.stream),
      filetype: this.filetype,
      nlink: 1n,
      size: 0n,
      atimNs: 0n,
      mtimNs: 0n,
      ctimNs: 0n,
    };
  }

  override setTimes(): void {}
  override sync(): void {}
  override advise(): void {
    throw new WasiError(Errno.SPIPE);
  }

  override pollRead(timeoutNs: bigint): Readiness {
    if (this.stream !== 0) return NOT_READY;
    return this.console.pollStdin(timeoutNs) ? { ready: true, nbytes: 1n, hangup: false } : NOT_READY;
  }

  override pollWrite(): Readiness {
    return this.stream === 0 ? NOT_READY : { ready: true, nbytes: 0n, hangup: false };
  }
}
