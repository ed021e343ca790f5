/**
 * What the enclave remembers of its host directories between calls, as an NFS client's attribute
 * and data caches or FUSE's entry and attribute timeouts do: the stat of an open file, the answer
 * to a lookup of an entry that is not a directory ("no such entry" included), and the contents of
 * the files it holds open, in 4 KiB blocks (`hostdir-blocks.ts`). SQLite asks the same questions
 * before every statement (fstat of the database, lstat of its `-journal` and `-wal`) and reads the
 * same pages again and again from a database larger than its own page cache: `speedtest1 --size
 * 25` made 173 000 host calls without this cache, each a ring round trip, where the kernel answers
 * node:wasi from its own caches.
 *
 * Fresh enough, in these ways (the semantics of a `--dir` mount; it is not a coherent shared file
 * system, and docs/security.md says what another process sees):
 * - the enclave always sees its own changes: each write or truncate updates the kept blocks of
 *   that file (also as seen through its other handles), and every call that changes a host
 *   directory or file first forgets the kept stats and lookups;
 * - a stat or lookup another process changed shows after at most `HOST_DIR_CACHE_MS`;
 * - kept contents of an open file are checked against the host's fstat (size, times, inode) at
 *   most every `HOST_DIR_CACHE_MS` when read: changed by another process, they are dropped. A
 *   change the enclave made in the same window hides one by another process in it (the enclave
 *   takes the new stat as its own): two writers of one file without a lock race anyway;
 * - a program that synchronises with other processes through the file system — lock files
 *   (exclusive create), lock directories, renames and links are all WASI has — sees their changes
 *   once it holds its lock: those calls forget everything kept, contents included;
 * - contents are kept only while the enclave holds the file open.
 *
 * Trusted no more than before: what is kept is the host's answer as decoded (contents are not
 * authenticated on a `--dir` mount in any case), and `hostdir.ts` checks every stat and read
 * length on every use as it checks a fresh one. Directories are never kept (a lookup of one hands
 * out a host handle), nor is anything a caller asked about with a held directory.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { SLOT_DATA_BYTES } from '../../interface/ring.ts';
import { FileType } from '../../interface/services.ts';
import type {
  HostDirCalls,
  HostDirEntry,
  HostDirId,
  HostLookup,
  HostOpenFlags,
  HostStat,
} from '../../interface/services.ts';
import { BlockBudget, FILE_BLOCK, FileBlocks } from './hostdir-blocks.ts';

/** How long an answer of the host is reused, ms: the most another process's change shows late. */
export const HOST_DIR_CACHE_MS = 10;
/** Answers kept at most, of each kind; past that all are dropped (they are cheap to ask for again). */
const MAX_ENTRIES = 4096;
/** Blocks of file contents kept at most, over all open files (32 MiB). */
export const MAX_KEPT_BLOCKS = 8192;
/** The last offset a cached read may reach (block arithmetic is done in doubles). */
const MAX_CACHED_OFFSET = BigInt(Number.MAX_SAFE_INTEGER - SLOT_DATA_BYTES);

interface Kept<T> {
  value: T;
  until: number;
}

/** A host file the enclave holds open, by identity (device and inode): all its handles share one. */
interface OpenFile {
  readonly identity: string;
  readonly blocks: FileBlocks;
  handles: number;
  /** The host's stat when the blocks were last checked against it. */
  seen: HostStat | null;
  /** The enclave changed the file since `seen`: a different stat then is its own doing. */
  changed: boolean;
  /** When the blocks are next checked against the host's stat before a read. */
  checkAt: number;
}

/** Same size, times and inode: nothing changed the file between the two stats. */
function sameVersion(a: HostStat | null, b: HostStat): boolean {
  if (a === null || typeof b !== 'object' || b === null) return false;
  return (
    a.size === b.size && a.mtimNs === b.mtimNs && a.ctimNs === b.ctimNs && a.ino === b.ino && a.dev === b.dev
  );
}

function identity(stat: HostStat): string | null {
  if (typeof stat !== 'object' || stat === null) return null;
  if (typeof stat.dev !== 'bigint' || typeof stat.ino !== 'bigint') return null;
  return `${stat.dev}:${stat.ino}`;
}

export class CachedHostDirCalls implements HostDirCalls {
  /** Lookups by `${dir handle}/${name}`: the found entry, or null for none. */
  private readonly lookups = new Map<string, Kept<HostLookup | null>>();
  /** fstat by file handle (handles are never reused). */
  private readonly stats = new Map<number, Kept<HostStat>>();
  /** Open files by handle, and by identity. */
  private readonly files = new Map<number, OpenFile>();
  private readonly byIdentity = new Map<string, OpenFile>();
  private readonly budget: BlockBudget;

  constructor(
    private readonly host: HostDirCalls,
    private readonly keepMs: number = HOST_DIR_CACHE_MS,
    private readonly now: () => number = () => performance.now(),
    maxBlocks: number = MAX_KEPT_BLOCKS,
  ) {
    this.budget = new BlockBudget(maxBlocks);
  }

  lookup(dir: number, name: string, held: HostDirId | null): HostLookup | null {
    if (held !== null) return this.host.lookup(dir, name, held);
    const key = `${dir}/${name}`;
    const kept = this.fresh(this.lookups, key);
    if (kept !== undefined) return kept.value;
    let found: HostLookup | null;
    try {
      found = this.host.lookup(dir, name, null);
    } catch (error) {
      if (!(error instanceof WasiError && error.errno === Errno.NOENT)) throw error;
      found = null;
    }
    if (found === null || (found?.dir === null && found.stat?.filetype !== FileType.DIRECTORY))
      this.keep(this.lookups, key, found);
    return found;
  }

  fstat(handle: number): HostStat {
    const kept = this.fresh(this.stats, handle);
    if (kept !== undefined) return kept.value;
    const stat = this.host.fstat(handle);
    this.keep(this.stats, handle, stat);
    const file = this.files.get(handle);
    if (file !== undefined) this.observe(file, stat);
    return stat;
  }

  pread(handle: number, offset: bigint, length: number): Uint8Array {
    const file = this.files.get(handle);
    const at = Number(offset);
    const first = Math.floor(at / FILE_BLOCK);
    const asked = Math.ceil((at + length) / FILE_BLOCK) * FILE_BLOCK - first * FILE_BLOCK;
    if (file === undefined || length <= 0 || asked > SLOT_DATA_BYTES || offset > MAX_CACHED_OFFSET) {
      return this.host.pread(handle, offset, length);
    }
    if (this.now() >= file.checkAt) this.fstat(handle);
    const kept = file.blocks.read(at, length);
    if (kept !== null) return kept;
    // The whole blocks around the range, in the one call the range alone would have taken.
    const data = this.host.pread(handle, BigInt(first * FILE_BLOCK), asked);
    // A malformed answer is not kept, and is refused by `hostdir.ts` as any is.
    if (!(data instanceof Uint8Array) || data.length > asked) return data;
    file.blocks.fill(first, data, asked);
    const from = Math.min(at - first * FILE_BLOCK, data.length);
    return data.subarray(from, Math.min(from + length, data.length));
  }

  pwrite(handle: number, offset: bigint, data: Uint8Array): number {
    this.forgetAnswers();
    const file = this.files.get(handle);
    let written: number;
    try {
      written = this.host.pwrite(handle, offset, data);
    } catch (error) {
      this.changed(file);
      throw error;
    }
    if (file !== undefined && written === data.length && offset <= MAX_CACHED_OFFSET) {
      file.blocks.write(Number(offset), data);
      file.changed = true;
    } else this.changed(file);
    return written;
  }

  ftruncate(handle: number, size: bigint): void {
    this.forgetAnswers();
    const file = this.files.get(handle);
    try {
      this.host.ftruncate(handle, size);
    } catch (error) {
      this.changed(file);
      throw error;
    }
    if (file !== undefined) {
      file.blocks.truncate(Number(size));
      file.changed = true;
    }
  }

  futimes(handle: number, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.forgetAnswers();
    const file = this.files.get(handle);
    if (file !== undefined) file.changed = true;
    this.host.futimes(handle, atimNs, mtimNs);
  }

  open(dir: number, name: string, flags: HostOpenFlags): number {
    // An exclusive create is how a lock file is taken.
    if (flags.create && flags.exclusive) this.forgetAll();
    else if (flags.create || flags.truncate) this.forgetAnswers();
    const handle = this.host.open(dir, name, flags);
    if (this.keepMs > 0) this.track(handle, flags.truncate);
    return handle;
  }

  close(handle: number): void {
    this.stats.delete(handle);
    const file = this.files.get(handle);
    if (file !== undefined) {
      this.files.delete(handle);
      if (--file.handles === 0) {
        file.blocks.release();
        this.byIdentity.delete(file.identity);
      }
    }
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

  // Calls that change a host directory: the kept stats and lookups are forgotten first.
  dirSetTimes(dir: number, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.forgetAnswers();
    this.host.dirSetTimes(dir, atimNs, mtimNs);
  }
  rmdir(dir: number, name: string): void {
    this.forgetAnswers();
    this.host.rmdir(dir, name);
  }
  unlink(dir: number, name: string): void {
    this.forgetAnswers();
    this.host.unlink(dir, name);
  }
  utimes(dir: number, name: string, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.forgetAnswers();
    this.host.utimes(dir, name, atimNs, mtimNs);
  }

  // Calls by which a lock is taken (each fails when the name exists): everything kept is forgotten.
  mkdir(dir: number, name: string): void {
    this.forgetAll();
    this.host.mkdir(dir, name);
  }
  rename(fromDir: number, from: string, toDir: number, to: string): void {
    this.forgetAll();
    this.host.rename(fromDir, from, toDir, to);
  }
  link(fromDir: number, from: string, toDir: number, to: string): void {
    this.forgetAll();
    this.host.link(fromDir, from, toDir, to);
  }
  symlink(target: string, dir: number, name: string): void {
    this.forgetAll();
    this.host.symlink(target, dir, name);
  }

  /** Starts keeping the contents of the file just opened as `handle` (with all its other handles). */
  private track(handle: number, truncated: boolean): void {
    let stat: HostStat;
    try {
      stat = this.host.fstat(handle);
    } catch (error) {
      // A call error leaves the file's contents unkept (the program's own fstat meets it, if it
      // asks); a broken protocol stops the enclave as anywhere else.
      if (error instanceof WasiError) return;
      throw error;
    }
    const id = identity(stat);
    if (id === null) return;
    this.keep(this.stats, handle, stat);
    let file = this.byIdentity.get(id);
    if (file === undefined) {
      file = {
        identity: id,
        blocks: new FileBlocks(this.budget),
        handles: 0,
        seen: null,
        changed: false,
        checkAt: 0,
      };
      this.byIdentity.set(id, file);
    }
    file.handles++;
    this.files.set(handle, file);
    if (truncated) this.changed(file);
    this.observe(file, stat);
  }

  /** A fresh stat of the host: kept contents it shows another process changed are dropped. */
  private observe(file: OpenFile, stat: HostStat): void {
    if (!file.changed && !sameVersion(file.seen, stat)) file.blocks.clear();
    file.seen = stat;
    file.changed = false;
    file.checkAt = this.now() + this.keepMs;
  }

  /** The enclave changed `file` in a way its blocks do not follow: they go. */
  private changed(file: OpenFile | undefined): void {
    if (file === undefined) return;
    file.blocks.clear();
    file.changed = true;
  }

  private forgetAnswers(): void {
    this.lookups.clear();
    this.stats.clear();
  }

  private forgetAll(): void {
    this.forgetAnswers();
    this.budget.clear();
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
