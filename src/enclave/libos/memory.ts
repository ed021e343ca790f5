/**
 * Access to the program's linear memory. Views are cached and re-created only when
 * `memory.buffer` changes (`memory.grow` detaches the old buffer), so hot calls allocate nothing.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { Filestat } from './wasi/layout.ts';
import type { Stat } from '../vfs/index.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** The program's memory, bound once the instance exists. */
export class GuestMemory {
  private memory: WebAssembly.Memory | null = null;
  private buffer: ArrayBufferLike | null = null;
  private dataView = new DataView(new ArrayBuffer(0));
  private byteView = new Uint8Array(0);

  bind(memory: WebAssembly.Memory): void {
    this.memory = memory;
    this.buffer = null;
  }

  /** A DataView of the whole memory, current after any growth. */
  view(): DataView {
    if (this.memory === null || this.memory.buffer !== this.buffer) this.refresh();
    return this.dataView;
  }

  /** A byte view of the whole memory, current after any growth. */
  bytes(): Uint8Array {
    if (this.memory === null || this.memory.buffer !== this.buffer) this.refresh();
    return this.byteView;
  }

  /** `len` bytes at `ptr`, as a view into memory (not a copy); FAULT when out of bounds. */
  slice(ptr: number, len: number): Uint8Array {
    const bytes = this.bytes();
    if (ptr + len > bytes.length) throw new WasiError(Errno.FAULT);
    return bytes.subarray(ptr, ptr + len);
  }

  /** Decodes a path or other string argument: ILSEQ when it is not UTF-8. */
  readString(ptr: number, len: number): string {
    // Copy first: TextDecoder refuses views of shared memory.
    const raw = this.slice(ptr, len).slice();
    try {
      return utf8.decode(raw);
    } catch {
      throw new WasiError(Errno.ILSEQ);
    }
  }

  /** Writes `s` as UTF-8 at `ptr`; returns the byte count. */
  writeString(ptr: number, s: string): number {
    const data = encoder.encode(s);
    this.slice(ptr, data.length).set(data);
    return data.length;
  }

  /** Stores a non-negative safe integer as a u64 without making a BigInt (hot in fd_seek). */
  setU64(ptr: number, value: number): void {
    const v = this.view();
    v.setUint32(ptr, value >>> 0, true);
    v.setUint32(ptr + 4, Math.floor(value / 0x1_0000_0000), true);
  }

  writeFilestat(ptr: number, stat: Stat): void {
    const v = this.view();
    v.setBigUint64(ptr + Filestat.DEV, stat.dev, true);
    v.setBigUint64(ptr + Filestat.INO, stat.ino, true);
    v.setUint8(ptr + Filestat.FILETYPE, stat.filetype);
    for (let i = Filestat.FILETYPE + 1; i < Filestat.NLINK; i++) v.setUint8(ptr + i, 0);
    v.setBigUint64(ptr + Filestat.NLINK, stat.nlink, true);
    v.setBigUint64(ptr + Filestat.FILE_SIZE, stat.size, true);
    v.setBigUint64(ptr + Filestat.ATIM, stat.atimNs, true);
    v.setBigUint64(ptr + Filestat.MTIM, stat.mtimNs, true);
    v.setBigUint64(ptr + Filestat.CTIM, stat.ctimNs, true);
  }

  private refresh(): void {
    if (this.memory === null) throw new Error('WASI: a call arrived before the memory was bound');
    this.buffer = this.memory.buffer;
    this.dataView = new DataView(this.buffer);
    this.byteView = new Uint8Array(this.buffer);
  }
}
