/**
 * The directory entries an ext4 mount has already looked up (a dentry cache). Every path the program
 * opens is resolved one name at a time, and each uncached name costs libext2fs a directory search:
 * reading the directory's blocks and checking their checksums. SQLite resolves its database's path
 * several times per transaction (and its lock directory's, which it creates and removes each time),
 * so without this cache most of a transaction is spent finding names it found a moment ago.
 *
 * Only this mount changes its file system (the root image is read-only, a volume is used by one run
 * at a time), so the cache stays exact by forgetting what each change touches: the callers forget a
 * name before changing it and record the outcome only after the change succeeded. Absent names are
 * remembered too (`null`), so the probes for files that do not exist (`-journal`, `-wal`) are cheap.
 */

/** A name as last seen: its inode and type, or `null` for no such entry. */
export type CachedName = { readonly ino: number; readonly filetype: number } | null;

export class Ext4NameCache {
  private readonly dirs = new Map<number, Map<string, CachedName>>();
  private entries = 0;

  /** @param limit most names kept; past it the cache starts again empty (cheap, and rare) */
  constructor(private readonly limit = 8192) {}

  /** The cached answer for `name` in directory `dir`, or `undefined` when it is not known. */
  get(dir: number, name: string): CachedName | undefined {
    return this.dirs.get(dir)?.get(name);
  }

  /** Records what `name` in `dir` is now. */
  set(dir: number, name: string, entry: CachedName): void {
    let names = this.dirs.get(dir);
    if (!names) {
      if (this.entries >= this.limit) this.clear();
      names = new Map();
      this.dirs.set(dir, names);
    }
    if (!names.has(name)) {
      if (this.entries >= this.limit) {
        this.clear();
        this.set(dir, name, entry);
        return;
      }
      this.entries++;
    }
    names.set(name, entry);
  }

  /** Forgets `name` in `dir` (before a change to it, so a failed change leaves nothing stale). */
  forget(dir: number, name: string): void {
    const names = this.dirs.get(dir);
    if (names?.delete(name)) this.entries--;
  }

  /**
   * Forgets everything inside directory `dir`: called when that directory may be removed, since its
   * inode number can then be reused by a new directory.
   */
  forgetDirectory(dir: number): void {
    const names = this.dirs.get(dir);
    if (!names) return;
    this.entries -= names.size;
    this.dirs.delete(dir);
  }

  /** Number of names held, for tests. */
  get size(): number {
    return this.entries;
  }

  private clear(): void {
    this.dirs.clear();
    this.entries = 0;
  }
}
