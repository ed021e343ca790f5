/**
 * What the enclave remembers of its host directories between calls, as an NFS client's attribute
 * and data caches or FUSE's entry and attribute timeouts do: the stat of an open file, the answer
 * to a lookup of an entry that is not a directory ("no such entry" included), and the contents of
 * the files it holds open, in 4 KiB blocks (`hostdir-blocks.ts`); and it holds the program's
 * writes to send them together. SQLite asks the same questions before every statement (fstat of
 * the database, lstat of its `-journal` and `-wal`), reads the same pages again and again from a
 * database larger than its own page cache, and writes each journal record as three writes:
 * `speedtest1 --size 25` made 173 000 host calls without this cache (1 600 with it), each a ring
 * round trip, where the kernel answers node:wasi from its own caches.
 *
 * Fresh enough, in these ways (the semantics of a `--dir` mount; it is not a coherent shared file
 * system, and docs/security.md says what another process sees):
 * - the enclave always sees its own changes: each write or truncate updates the kept blocks of
 *   that file (also as seen through its other handles) and forgets the kept stats and lookups
 *   of that file, and every call that changes a host directory forgets them all;
 * - a stat or lookup another process changed shows after at most `HOST_DIR_CACHE_MS`;
 * - kept contents of an open file are checked against the host's fstat (size, times, inode) at
 *   most every `HOST_DIR_CACHE_MS` when read: changed by another process, they are dropped. A
 *   change the enclave made in the same window hides one by another process in it (the enclave
 *   takes the new stat as its own): two writers of one file without a lock race anyway;
 * - a program that synchronises with other processes through the file system — lock files
 *   (exclusive create), lock directories, renames and links are all WASI has — sees their changes
 *   once it holds its lock: those calls forget every kept answer, and kept contents are checked
 *   against a fresh host fstat before their next use (dropped at once if the enclave itself
 *   changed the file since the last check);
 * - contents are kept only while the enclave holds the file open;
 * - a write reaches the host before the enclave's next host call of any kind (another file
 *   operation, console output, exit): a program computing after a write without any call shows it
 *   to other processes only then. A failure the host reports for it comes back from the next
 *   read, write, sync, truncate, stat or close of that descriptor, else it fails the run.
 * The enclave's own view never differs from what it did: its reads see its writes at once.
 *
 * Trusted no more than before: what is kept is the host's answer as decoded (contents are not
 * authenticated on a `--dir` mount in any case), and `hostdir.ts` checks every stat and read
 * length on every use as it checks a fresh one. Directories are never kept (a lookup of one hands
 * out a host handle), nor is anything a caller asked about with a held directory.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { SLOT_COUNT, SLOT_DATA_BYTES } from '../../interface/ring.ts';
import { FileType } from '../../interface/services.ts';
import type {
  HostDirCalls,
  HostDirEntry,
  HostDirId,
  HostLookup,
  HostOpenFlags,
  HostStat,
  HostWrite,
} from '../../interface/services.ts';
import { BlockBudget, FILE_BLOCK, FileBlocks } from './hostdir-blocks.ts';

/** Writes the program was told had succeeded failed on the host, and it was never told. */
export class HostDirWriteError extends Error {
  override name = 'HostDirWriteError';
}

/** How long an answer of the host is reused, ms: the most another process's change shows late. */
export const HOST_DIR_CACHE_MS = 10;
/** Answers kept at most, of each kind; past that all are dropped (they are cheap to ask for again). */
const MAX_ENTRIES = 4096;
/** Blocks of file contents kept at most, over all open files (32 MiB). */
export const MAX_KEPT_BLOCKS = 8192;
/** The last offset a cached read may reach (block arithmetic is done in doubles). */
const MAX_CACHED_OFFSET = BigInt(Number.MAX_SAFE_INTEGER - SLOT_DATA_BYTES);

/** Runs of writes held at most before they are sent: a ring's worth, submitted at once. */
const MAX_HELD_RUNS = SLOT_COUNT;

/** Writes to one file, back to back, held to go to the host as one. */
interface HeldRun {
  handle: number;
  offset: bigint;
  /** The program's writes, copied in order into a slot's worth of bytes (`RunBuffers`). */
  bytes: Uint8Array;
  length: number;
}

/**
 * The buffers of held runs, reused: a write is copied once, into its run (the caller's bytes are
 * its own again when `pwrite` returns), and the run goes to the ring as it is.
 */
class RunBuffers {
  private readonly free: Uint8Array[] = [];

  take(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(SLOT_DATA_BYTES);
  }

  give(bytes: Uint8Array): void {
    if (this.free.length < MAX_HELD_RUNS) this.free.push(bytes);
  }
}

/** Runs sent to the host together, and how to take their replies. */
interface SentWrites {
  runs: { handle: number; length: number }[];
  results: () => (number | WasiError)[];
}

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
  /** A stat or lookup answer about this file may be kept (cleared when they are forgotten). */
  answersKept: boolean;
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
  /** Runs of writes not yet sent, in the program's order. */
  private readonly held: HeldRun[] = [];
  private readonly runBuffers = new RunBuffers();
  /** Writes sent whose replies have not been taken yet, in order. */
  private readonly sent: SentWrites[] = [];
  /** Failures of sent runs, by handle, until reported to the program. */
  private readonly writeErrors = new Map<number, WasiError>();

  constructor(
    private readonly host: HostDirCalls,
    private readonly keepMs: number = HOST_DIR_CACHE_MS,
    private readonly now: () => number = () => performance.now(),
    maxBlocks: number = MAX_KEPT_BLOCKS,
  ) {
    this.budget = new BlockBudget(maxBlocks);
  }

  lookup(dir: number, name: string, held: HostDirId | null): HostLookup | null {
    if (held !== null) return this.toHost.lookup(dir, name, held);
    const key = `${dir}/${name}`;
    const kept = this.fresh(this.lookups, key);
    if (kept !== undefined) return kept.value;
    let found: HostLookup | null;
    try {
      found = this.toHost.lookup(dir, name, null);
    } catch (error) {
      if (!(error instanceof WasiError && error.errno === Errno.NOENT)) throw error;
      found = null;
    }
    if (found === null || (found?.dir === null && found.stat?.filetype !== FileType.DIRECTORY)) {
      this.keep(this.lookups, key, found);
      const id = found === null ? null : identity(found.stat);
      const file = id === null ? undefined : this.byIdentity.get(id);
      if (file !== undefined) file.answersKept = true;
    }
    return found;
  }

  fstat(handle: number): HostStat {
    this.reportWriteError(handle);
    const kept = this.fresh(this.stats, handle);
    if (kept !== undefined) return kept.value;
    const stat = this.toHost.fstat(handle);
    this.keep(this.stats, handle, stat);
    const file = this.files.get(handle);
    if (file !== undefined) {
      file.answersKept = true;
      this.observe(file, stat);
    }
    return stat;
  }

  pread(handle: number, offset: bigint, length: number): Uint8Array {
    this.reportWriteError(handle);
    const file = this.files.get(handle);
    const at = Number(offset);
    const first = Math.floor(at / FILE_BLOCK);
    const asked = Math.ceil((at + length) / FILE_BLOCK) * FILE_BLOCK - first * FILE_BLOCK;
    if (file === undefined || length <= 0 || asked > SLOT_DATA_BYTES || offset > MAX_CACHED_OFFSET) {
      return this.toHost.pread(handle, offset, length);
    }
    if (this.now() >= file.checkAt) {
      this.fstat(handle);
      // Writes sent with the fstat are answered: a failed one drops what was kept of its file.
      this.collect();
    }
    const kept = file.blocks.read(at, length);
    if (kept !== null) return kept;
    // The whole blocks around the range, in the one call the range alone would have taken.
    const data = this.toHost.pread(handle, BigInt(first * FILE_BLOCK), asked);
    // A malformed answer is not kept, and is refused by `hostdir.ts` as any is.
    if (!(data instanceof Uint8Array) || data.length > asked) return data;
    file.blocks.fill(first, data, asked);
    const from = Math.min(at - first * FILE_BLOCK, data.length);
    return data.subarray(from, Math.min(from + length, data.length));
  }

  /**
   * Keeps `data` to send with the writes that follow it: writes back to back to one file join one
   * run (SQLite writes a journal record as three: page number, page, checksum; and a commit
   * alternates between journal and database), and the runs held (up to `MAX_HELD_RUNS`, as a
   * commit's scattered pages) go to the host together, one call each, submitted at once before
   * the enclave's next host call of any kind. The write returns
   * before the host has it; should the host fail it, the error comes back from the next call on
   * the same handle, or ends the run (`finish`), as a kernel's write-back reports it at fsync or
   * close.
   */
  pwrite(handle: number, offset: bigint, data: Uint8Array): number {
    this.reportWriteError(handle);
    const file = this.files.get(handle);
    this.forgetFile(handle, file);
    const run = this.runToExtend(handle, file, offset, data.length);
    if (run !== undefined) {
      run.bytes.set(data, run.length);
      run.length += data.length;
    } else if (this.keepMs > 0 && data.length <= SLOT_DATA_BYTES) {
      if (this.held.length >= MAX_HELD_RUNS) this.flush();
      const bytes = this.runBuffers.take();
      bytes.set(data);
      this.held.push({ handle, offset, bytes, length: data.length });
    } else {
      let written: number;
      try {
        written = this.toHost.pwrite(handle, offset, data);
      } catch (error) {
        this.changed(file);
        throw error;
      }
      if (written !== data.length) {
        this.changed(file);
        return written;
      }
    }
    if (file !== undefined && offset <= MAX_CACHED_OFFSET) {
      file.blocks.write(Number(offset), data);
      file.changed = true;
    } else this.changed(file);
    return data.length;
  }

  startWrites(writes: readonly HostWrite[]): () => (number | WasiError)[] {
    const results = writes.map(({ handle, offset, data }) => {
      try {
        return this.pwrite(handle, offset, data);
      } catch (error) {
        if (error instanceof WasiError) return error;
        throw error;
      }
    });
    return () => results;
  }

  /**
   * The held run that a write at `offset` through `handle` continues, if any: the latest run of the
   * same file, when it ends there (a run of another file in between does not matter: interleaved
   * writes to a journal and a database each stay one run; the same file's would be overtaken).
   */
  private runToExtend(
    handle: number,
    file: OpenFile | undefined,
    offset: bigint,
    length: number,
  ): HeldRun | undefined {
    for (let i = this.held.length - 1; i >= 0; i--) {
      const run = this.held[i];
      const sameFile = run.handle === handle || (file !== undefined && this.files.get(run.handle) === file);
      if (!sameFile) continue;
      const continues =
        run.handle === handle &&
        run.offset + BigInt(run.length) === offset &&
        run.length + length <= SLOT_DATA_BYTES;
      return continues ? run : undefined;
    }
    return undefined;
  }

  /**
   * Sends the held writes, without waiting for the host: it serves them before the enclave's next
   * call, and their replies are taken (`collect`) by the next call that could report a failure.
   */
  flush(): void {
    if (this.held.length === 0) return;
    const runs = this.held.splice(0);
    const results = this.host.startWrites(
      runs.map((run) => ({
        handle: run.handle,
        offset: run.offset,
        data: run.bytes.subarray(0, run.length),
      })),
    );
    // Copied into the ring's slots: the buffers are free again.
    for (const run of runs) this.runBuffers.give(run.bytes);
    this.sent.push({ runs: runs.map(({ handle, length }) => ({ handle, length })), results });
  }

  /** Takes the replies of the sent writes; a failure is kept for the handle's next call. */
  private collect(): void {
    while (this.sent.length > 0) {
      const { runs, results } = this.sent.shift() as SentWrites;
      const replies = results();
      for (const [i, run] of runs.entries()) {
        const result: unknown = replies[i];
        if (result === run.length) continue;
        const error =
          result instanceof WasiError
            ? result
            : new WasiError(Errno.IO, `hostdir: host wrote ${String(result)} of ${run.length} bytes`);
        this.writeErrors.set(run.handle, error);
        this.changed(this.files.get(run.handle));
      }
    }
  }

  /**
   * Sends the pending writes at the end of the run; throws if any write the program was told had
   * succeeded failed on the host and was not reported to it by a later write, sync, truncate or
   * stat (reported only by a close, it fails the run too).
   */
  finish(): void {
    this.flush();
    this.collect();
    const failed = [...this.writeErrors.values()];
    this.writeErrors.clear();
    if (failed.length > 0) {
      throw new HostDirWriteError(
        `a write to a host directory failed after the program was told it had succeeded: ${failed[0].message}`,
      );
    }
  }

  ftruncate(handle: number, size: bigint): void {
    this.settle(handle);
    const file = this.files.get(handle);
    this.forgetFile(handle, file);
    try {
      this.toHost.ftruncate(handle, size);
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
    this.settle(handle);
    const file = this.files.get(handle);
    this.forgetFile(handle, file);
    if (file !== undefined) file.changed = true;
    this.toHost.futimes(handle, atimNs, mtimNs);
  }

  open(dir: number, name: string, flags: HostOpenFlags): number {
    // An exclusive create is how a lock file is taken.
    if (flags.create && flags.exclusive) this.lockTaken();
    else if (flags.create || flags.truncate) this.forgetAnswers();
    const handle = this.toHost.open(dir, name, flags);
    if (this.keepMs > 0) this.track(handle, flags.truncate);
    return handle;
  }

  close(handle: number): void {
    this.collect();
    this.stats.delete(handle);
    const file = this.files.get(handle);
    if (file !== undefined) {
      this.files.delete(handle);
      if (--file.handles === 0) {
        file.blocks.release();
        this.byIdentity.delete(file.identity);
      }
    }
    this.toHost.close(handle);
    // The replies to the writes sent before the close are in: the host serves calls in order.
    this.collect();
    // Closed all the same, as close(2) reports a write-back error. A failure reported here stays
    // for `finish` too: the descriptors left open at exit are closed by the library OS, which goes
    // on whatever a close reports.
    const failed = this.writeErrors.get(handle);
    if (failed !== undefined) throw failed;
  }

  // Calls that change nothing on the host.
  root(mount: number): number {
    return this.toHost.root(mount);
  }
  closeDir(dir: number): void {
    this.toHost.closeDir(dir);
  }
  dirStat(dir: number): HostStat {
    return this.toHost.dirStat(dir);
  }
  fsync(handle: number, dataOnly: boolean): void {
    // The held writes go just before the sync, in the same hand-off; a failure of one of them is
    // what the sync reports (its replies are in once the sync's is).
    let failed: WasiError | undefined;
    try {
      this.toHost.fsync(handle, dataOnly);
    } catch (error) {
      if (!(error instanceof WasiError)) throw error;
      failed = error;
    }
    this.reportWriteError(handle);
    if (failed !== undefined) throw failed;
  }
  readdir(dir: number, start: number, max: number): { entries: HostDirEntry[]; end: boolean } {
    return this.toHost.readdir(dir, start, max);
  }
  readlink(dir: number, name: string): string {
    return this.toHost.readlink(dir, name);
  }

  // Calls that change a host directory: the kept stats and lookups are forgotten first.
  dirSetTimes(dir: number, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.forgetAnswers();
    this.toHost.dirSetTimes(dir, atimNs, mtimNs);
  }
  rmdir(dir: number, name: string): void {
    this.forgetAnswers();
    this.toHost.rmdir(dir, name);
  }
  unlink(dir: number, name: string): void {
    this.forgetAnswers();
    this.toHost.unlink(dir, name);
  }
  utimes(dir: number, name: string, atimNs: bigint | null, mtimNs: bigint | null): void {
    this.forgetAnswers();
    this.toHost.utimes(dir, name, atimNs, mtimNs);
  }

  // Calls by which a lock is taken (each fails when the name exists).
  mkdir(dir: number, name: string): void {
    this.lockTaken();
    this.toHost.mkdir(dir, name);
  }
  rename(fromDir: number, from: string, toDir: number, to: string): void {
    this.lockTaken();
    this.toHost.rename(fromDir, from, toDir, to);
  }
  link(fromDir: number, from: string, toDir: number, to: string): void {
    this.lockTaken();
    this.toHost.link(fromDir, from, toDir, to);
  }
  symlink(target: string, dir: number, name: string): void {
    this.lockTaken();
    this.toHost.symlink(target, dir, name);
  }

  /** The host, once the pending writes are sent: every host call keeps the program's order. */
  private get toHost(): HostDirCalls {
    this.flush();
    return this.host;
  }

  /** Sends the pending writes and throws (once) the failure of any sent through `handle`. */
  private settle(handle: number): void {
    this.flush();
    this.reportWriteError(handle);
  }

  /** Throws (once) the failure of a write through `handle` that was sent after it returned. */
  private reportWriteError(handle: number): void {
    this.collect();
    const failed = this.writeErrors.get(handle);
    if (failed === undefined) return;
    this.writeErrors.delete(handle);
    throw failed;
  }

  /** Starts keeping the contents of the file just opened as `handle` (with all its other handles). */
  private track(handle: number, truncated: boolean): void {
    let stat: HostStat;
    try {
      stat = this.toHost.fstat(handle);
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
        answersKept: true,
      };
      this.byIdentity.set(id, file);
    }
    file.handles++;
    file.answersKept = true;
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

  /**
   * The enclave changed the file open as `handle`: the kept stats of its handles and lookups of its
   * names go; answers about other entries stay (SQLite's writes to its database do not make it ask
   * again whether a `-journal` exists). A file not tracked by identity forgets everything.
   */
  private forgetFile(handle: number, file: OpenFile | undefined): void {
    if (file === undefined) {
      this.forgetAnswers();
      return;
    }
    if (!file.answersKept) return;
    file.answersKept = false;
    for (const kept of this.stats.keys()) {
      if (kept === handle || this.files.get(kept) === file) this.stats.delete(kept);
    }
    for (const [key, kept] of this.lookups) {
      if (kept.value !== null && identity(kept.value.stat) === file.identity) this.lookups.delete(key);
    }
  }

  private forgetAnswers(): void {
    this.lookups.clear();
    this.stats.clear();
  }

  /**
   * A lock may just have been taken: every kept answer goes, and the kept contents of each open
   * file are checked against a fresh host fstat before their next use; those of a file the enclave
   * changed since the last check go at once (a change by another process would not show then).
   */
  private lockTaken(): void {
    this.forgetAnswers();
    for (const file of this.byIdentity.values()) {
      if (file.changed) file.blocks.clear();
      file.checkAt = -Infinity;
    }
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
