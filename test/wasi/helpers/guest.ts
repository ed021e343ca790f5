/**
 * Calls WASI functions directly, as a program would, without a `.wasm`: a plain memory, a bump
 * allocator for arguments, and typed wrappers for the calls the unit tests use most.
 */
import { Wasi } from '../../../src/enclave/libos/index.ts';
import type { Preopen } from '../../../src/enclave/libos/index.ts';
import type { ClockSource, ConsoleCalls } from '../../../src/interface/services.ts';
import { CapturedConsole, hostClock } from './run.ts';

export const ALL_RIGHTS = (1n << 30n) - 1n;
export const FIRST_PREOPEN = 3;
/** Every right except FD_WRITE, as wasi-libc asks for when it opens a directory. */
export const READ_RIGHTS = ALL_RIGHTS & ~(1n << 6n);

export interface GuestOptions {
  preopens?: Preopen[];
  console?: ConsoleCalls;
  clock?: ClockSource;
  args?: string[];
  env?: string[];
  /** Initial memory size in 64 KiB pages (default 2). */
  pages?: number;
}

export class Guest {
  readonly memory: WebAssembly.Memory;
  readonly console: ConsoleCalls;
  readonly wasi: Wasi;
  private top = 1024;

  constructor(options: GuestOptions = {}) {
    this.memory = new WebAssembly.Memory({ initial: options.pages ?? 2 });
    this.console = options.console ?? new CapturedConsole();
    this.wasi = new Wasi({
      args: options.args ?? ['test'],
      env: options.env ?? [],
      preopens: options.preopens ?? [],
      console: this.console,
      clock: options.clock ?? hostClock,
    });
  }

  /** Runs `body` as the program's `_start`; returns the exit code. */
  run(body: (g: Guest) => void): number {
    const instance = { exports: { memory: this.memory, _start: () => body(this) } };
    return this.wasi.start(instance as unknown as WebAssembly.Instance);
  }

  get view(): DataView {
    return new DataView(this.memory.buffer);
  }

  call(name: string, ...args: (number | bigint)[]): number {
    return this.wasi.imports.wasi_snapshot_preview1[name](...args) as number;
  }

  alloc(size: number): number {
    const ptr = this.top;
    this.top += (size + 7) & ~7;
    if (this.top > this.memory.buffer.byteLength) throw new Error('guest heap exhausted');
    return ptr;
  }

  /** Copies bytes (a string as UTF-8) into memory; returns pointer and length. */
  bytes(data: string | Uint8Array): [number, number] {
    const raw = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const ptr = this.alloc(raw.length);
    new Uint8Array(this.memory.buffer, ptr, raw.length).set(raw);
    return [ptr, raw.length];
  }

  u32(ptr: number): number {
    return this.view.getUint32(ptr, true);
  }

  u64(ptr: number): bigint {
    return this.view.getBigUint64(ptr, true);
  }

  read(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, len).slice();
  }

  /** path_open; returns [errno, fd]. */
  open(
    dirFd: number,
    path: string,
    opts: { oflags?: number; base?: bigint; inheriting?: bigint; fdflags?: number; lookup?: number } = {},
  ): [number, number] {
    const [p, l] = this.bytes(path);
    const out = this.alloc(4);
    const errno = this.call(
      'path_open',
      dirFd,
      opts.lookup ?? 1,
      p,
      l,
      opts.oflags ?? 0,
      opts.base ?? ((opts.oflags ?? 0) & 2 || path.endsWith('/') ? READ_RIGHTS : ALL_RIGHTS),
      opts.inheriting ?? ALL_RIGHTS,
      opts.fdflags ?? 0,
      out,
    );
    return [errno, errno === 0 ? this.u32(out) : -1];
  }

  /** A call whose arguments are (fd, path_ptr, path_len, ...rest). */
  pathCall(name: string, fd: number, path: string, ...rest: (number | bigint)[]): number {
    const [p, l] = this.bytes(path);
    return this.call(name, fd, p, l, ...rest);
  }

  write(fd: number, data: string | Uint8Array): [number, number] {
    const [p, l] = this.bytes(data);
    const iov = this.alloc(8);
    this.view.setUint32(iov, p, true);
    this.view.setUint32(iov + 4, l, true);
    const out = this.alloc(4);
    const errno = this.call('fd_write', fd, iov, 1, out);
    return [errno, this.u32(out)];
  }

  readFd(fd: number, max: number): [number, string] {
    const buf = this.alloc(max);
    const iov = this.alloc(8);
    this.view.setUint32(iov, buf, true);
    this.view.setUint32(iov + 4, max, true);
    const out = this.alloc(4);
    const errno = this.call('fd_read', fd, iov, 1, out);
    return [errno, new TextDecoder().decode(this.read(buf, this.u32(out)))];
  }

  /** fd_readdir from `cookie` into a buffer of `bufLen`; returns [errno, bufused, raw bytes]. */
  readdir(fd: number, cookie: bigint, bufLen: number): [number, number, Uint8Array] {
    const buf = this.alloc(bufLen);
    const used = this.alloc(4);
    const errno = this.call('fd_readdir', fd, buf, bufLen, cookie, used);
    const n = this.u32(used);
    return [errno, n, this.read(buf, n)];
  }
}

/** Parses complete dirents out of an `fd_readdir` buffer. */
export function parseDirents(raw: Uint8Array): { next: bigint; ino: bigint; type: number; name: string }[] {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = [];
  for (let at = 0; at + 24 <= raw.length;) {
    const namlen = v.getUint32(at + 16, true);
    if (at + 24 + namlen > raw.length) break;
    out.push({
      next: v.getBigUint64(at, true),
      ino: v.getBigUint64(at + 8, true),
      type: v.getUint8(at + 20),
      name: new TextDecoder().decode(raw.subarray(at + 24, at + 24 + namlen)),
    });
    at += 24 + namlen;
  }
  return out;
}
