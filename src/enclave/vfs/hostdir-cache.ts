/**
 * What the enclave remembers of its host directories between calls, as an NFS client's attribute
 * cache or FUSE's entry and attribute timeouts do: the stat of an open file, the answer to a
 * lookup of an entry that is not a directory ("no such entry" included), and small reads. SQLite
 * asks the same questions before every statement (fstat of the database, lstat of its `-journal`
 * and `-wal`, a read of the 16-byte change counter): 140 000 host calls in
 * `speedtest1 --size 25`, each a ring round trip, where the kernel answers node:wasi from its own
 * caches.
 *
 * Fresh enough, in two ways:
 * - every call by which this enclave changes a host directory (a write, truncate, new times, a
 *   create, remove, rename or link) first forgets everything, so the enclave always sees its own
 *   changes; and a program that synchronises with other processes through the file system — lock
 *   files, lock directories and renames are all WASI has — sees their changes once it holds its
 *   lock;
 * - anything else another process changes shows after at most `HOST_DIR_CACHE_MS`.
 *
 * Trusted no more than before: what is kept is the host's answer as decoded, and `hostdir.ts`
 * checks it on every use as it checks a fresh one. Directories are never kept (a lookup of one
 * hands out a host handle), nor is anything a caller asked about with a held directory.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { FileType } from '../../interface/services.ts';
import type {
  HostDirCalls,
  HostDirEntry,
  HostDirId,
  HostLookup,
  HostOpenFlags,
  HostStat,
} from '../../interface/services.ts';

/** How long an answer of the host is reused, ms: the most another process's change shows late. */
export const HOST_DIR_CACHE_MS = 10;
/** Answers kept at most, of each kind; past that all are dropped (they are cheap to ask for again). */
const MAX_ENTRIES = 4096;
/** Reads up to this length are kept (headers and counters; a program keeps its own page cache). */
const MAX_KEPT_READ = 512;
/** "No such entry", kept: thrown as the ring's error would be, without building a new one each time. */
const NO_ENTRY = new WasiError(Errno.NOENT, 'hostdir: no such entry (cached)');

interface Kept<T> {
  value: T;
  until: number;
}

export class CachedHostDirCalls implements HostDirCalls {
  /** Lookups by `${dir handle}/${name}`: the found entry, or null for none. */
  private readonly lookups = new Map<string, Kept<HostLookup | null>>();
  /** fstat by file handle (handles are never reused). */
  private readonly stats = new Map<number, Kept<HostStat>>();
  /** Small reads by `${file handle}:${offset}:${length}`. */
  private readonly reads = new Map<string, Kept<Uint8Array>>();

  constructor(
    private readonly host: HostDirCalls,
    private readonly keepMs: number = HOST_DIR_CACHE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  lookup(dir: number, name: string, held: HostDirId | null): HostLookup {
    if (held !== null) return this.host.lookup(dir, name, held);
    const key = `${dir}/${name}`;
    const kept = this.fresh(this.lookups, key);
    if (kept !== undefined) {
      if (kept.value === null) throw NO_ENTRY;
      return kept.value;
    }
    let found: HostLookup;
    try {
      found = this.host.lookup(dir, name, null);
    } catch (error) {
      if (error instanceof WasiError && error.errno === Errno.NOENT) this.keep(this.lookups, key, null);
      throw error;
    }
    if (found?.dir === null && found.stat?.filetype !== FileType.DIRECTORY)
      this.keep(this.lookups, key, found);
    return found;
  }

  fstat(handle: number): HostStat {
    const kept = this.fresh(this.stats, handle);
    if (kept !== undefined) return kept.value;
    const stat = this.host.fstat(handle);
    this.keep(this.stats, handle, stat);
    return stat;
  }

  pread(handle: number, offset: bigint, length: number): Uint8Array {
    if (length > MAX_KEPT_READ) return this.host.pread(handle, offset, length);
    const key = `${handle}:${offset}:${length}`;
    const kept = this.fresh(this.reads, key);
    if (kept !== undefined) return kept.value.slice();
    const data = this.host.pread(handle, offset, length);
    this.keep(this.reads, key, data.slice());
    return data;
  }

  close(handle: number): void {
    // Its kept reads expire unused: the handle is never given out again.
    this.stats.delete(handle);
    this.host.close(handle);
  }

  // Calls that change nothing on the host.
  root(mount: number): number {
    return this.host.root(mount);
  }
  closeDir(dir: number): void {
    this.host.closeDir(dir);
  }
  dirStat(dir: number): HostStat {
    return this.host.dirStat(dir);
  }
  fsync(handle: number, dataOnly: boolean): void {
    this.host.fsync(handle, dataOnly);
  }
  readdir(dir: number, start: number, max: number): { entries: HostDirEntry[]; end: boolean } {
    return this.host.readdir(dir, start, max);
  }
  readlink(dir: number, name: string): string {
    return this.host.readlink(dir, name);
  }

  // Calls that change the host directory: everything kept is forgotten first.
  open(dir: number, name: string, flags: HostOpenFlags): number {
    if (flags.create || flags.truncate) this.forget();
    return this.host.open(dir, name, flags);
  }
  dirSetTimes(dir: number, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.forget();
    this.host.dirSetTimes(dir, atimNs, mtimNs);
  }
  pwrite(handle: number, offset: bigint, data: Uint8Array): number {
    this.forget();
    return this.host.pwrite(handle, offset, data);
  }
  ftruncate(handle: number, size: bigint): void {
    this.forget();
    this.host.ftruncate(handle, size);
  }
  futimes(handle: number, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.forget();
    this.host.futimes(handle, atimNs, mtimNs);
  }
  mkdir(dir: number, name: string): void {
    this.forget();
    this.host.mkdir(dir, name);
  }
  rmdir(dir: number, name: string): void {
    this.forget();
    this.host.rmdir(dir, name);
  }
  unlink(dir: number, name: string): void {
    this.forget();
    this.host.unlink(dir, name);
  }
  rename(fromDir: number, from: string, toDir: number, to: string): void {
    this.forget();
    this.host.rename(fromDir, from, toDir, to);
  }
  link(fromDir: number, from: string, toDir: number, to: string): void {
    this.forget();
    this.host.link(fromDir, from, toDir, to);
  }
  symlink(target: string, dir: number, name: string): void {
    this.forget();
    this.host.symlink(target, dir, name);
  }
  utimes(dir: number, name: string, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.forget();
    this.host.utimes(dir, name, atimNs, mtimNs);
  }

  private forget(): void {
    this.lookups.clear();
    this.stats.clear();
    this.reads.clear();
  }

  private fresh<K, T>(map: Map<K, Kept<T>>, key: K): Kept<T> | undefined {
    const kept = map.get(key);
    if (kept === undefined) return undefined;
    if (this.now() < kept.until) return kept;
    map.delete(key);
    return undefined;
  }

  private keep<K, T>(map: Map<K, Kept<T>>, key: K, value: T): void {
    if (this.keepMs <= 0) return;
    if (map.size >= MAX_ENTRIES) map.clear();
    map.set(key, { value, until: this.now() + this.keepMs });
  }
}
