/** The descriptor table: numbers to open descriptors, lowest free number first. */
import { Errno, WasiError } from '../../interface/errno.ts';
import type { Fd } from './fd.ts';
import { Rights } from './wasi/layout.ts';

/** Most descriptors open at once. */
const MAX_FDS = 1 << 16;

export class FdTable {
  private readonly fds: (Fd | undefined)[] = [];

  /** The descriptor `fd`, which must hold every right in `rights`. */
  get(fd: number, rights = 0): Fd {
    const entry = this.fds[fd];
    if (entry === undefined) throw new WasiError(Errno.BADF);
    if ((entry.rightsBase & rights) !== rights) {
      // Reading a write-only descriptor (or the reverse) is BADF, as in POSIX and wasmtime.
      const accessOnly = (rights & ~(Rights.FD_READ | Rights.FD_WRITE)) === 0;
      throw new WasiError(accessOnly ? Errno.BADF : Errno.NOTCAPABLE);
    }
    return entry;
  }

  /** Adds `fd` at the lowest free number. */
  add(fd: Fd): number {
    let n = this.fds.indexOf(undefined);
    if (n < 0) n = this.fds.length;
    if (n >= MAX_FDS) throw new WasiError(Errno.MFILE);
    this.fds[n] = fd;
    return n;
  }

  /** Removes and returns descriptor `fd`. */
  remove(fd: number): Fd {
    const entry = this.get(fd);
    this.fds[fd] = undefined;
    return entry;
  }

  /** Moves `from` to `to`, closing what `to` held. Both must be open (as in wasmtime). */
  renumber(from: number, to: number): void {
    const source = this.get(from);
    const target = this.get(to);
    if (from === to) return;
    target.close();
    this.fds[to] = source;
    this.fds[from] = undefined;
  }

  /** Closes every descriptor (at exit). */
  closeAll(): void {
    for (let n = 0; n < this.fds.length; n++) {
      const fd = this.fds[n];
      this.fds[n] = undefined;
      try {
        fd?.close();
      } catch {
        // Exit proceeds whatever a close reports.
      }
    }
  }
}
