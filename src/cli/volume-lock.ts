/**
 * Exclusive use of a volume file by one `cloister run`: a lock file `VOLUME.lock` beside it, made
 * with `link(2)` (atomic, never overwrites) and naming its holder as `pid start-time token`. Node has
 * no `flock`; a lock file survives its holder's death, so a lock whose process is gone (or whose pid
 * now belongs to a process started later) is stale and taken over. See docs/storage.md.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  linkSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Another live process holds the volume. */
export class VolumeInUseError extends Error {
  override name = 'VolumeInUseError';
  constructor(
    readonly volume: string,
    readonly pid: number,
  ) {
    super(`volume ${volume} is in use by pid ${pid}`);
  }
}

/** A held lock; `release` is idempotent. */
export interface VolumeLock {
  readonly path: string;
  release(): void;
}

interface Holder {
  pid: number;
  /** The process's start time in clock ticks after boot (`/proc/PID/stat` field 22), or '-'. */
  start: string;
  token: string;
}

/** The start time of `pid`, which tells a live holder from a later process that reused its pid. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(holder: Holder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = startTime(holder.pid);
  return holder.start === '-' || start === undefined || start === holder.start;
}

function parseHolder(text: string): Holder | undefined {
  const m = /^(\d{1,10}) (\d{1,20}|-) ([0-9a-f]{32})\n$/.exec(text);
  return m ? { pid: Number(m[1]), start: m[2], token: m[3] } : undefined;
}

function readHolder(path: string): { text: string; holder: Holder | undefined } | undefined {
  try {
    const text = readFileSync(path, 'latin1');
    return { text, holder: parseHolder(text) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** Attempts to take over a stale lock: true when it is gone (ours to try again), false otherwise. */
function removeStale(lockPath: string, staleText: string, token: string): boolean {
  // Move the stale file aside under a name of our own: only one taker can move a given file. If
  // what we moved is not what we judged stale, a live holder slipped in: put its lock back.
  const aside = `${lockPath}.stale-${token}`;
  try {
    renameSync(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
  let moved = '';
  try {
    moved = readFileSync(aside, 'latin1');
  } catch {
    // Unreadable: treat as not ours to remove.
  }
  if (moved === staleText) {
    tryUnlink(aside);
    return true;
  }
  try {
    linkSync(aside, lockPath);
  } finally {
    tryUnlink(aside);
  }
  return false;
}

/**
 * Locks `volume` for one run, or throws {@link VolumeInUseError} naming a live holder's pid. A writer
 * holds `VOLUME.lock` for the whole run, and is refused while readers hold theirs. A reader
 * (`shared`) takes `VOLUME.lock` only for a moment, to leave a file `VOLUME.lock.reader-TOKEN` of
 * its own: readers share a volume with each other, never with a writer. Stale locks (holder dead or
 * pid reused) are taken over or removed.
 */
export function lockVolume(volume: string, { shared = false }: { shared?: boolean } = {}): VolumeLock {
  const exclusive = lockExclusive(volume);
  try {
    // Under the exclusive lock: readers appear only while it is held, so the check cannot race.
    if (!shared) {
      refuseLiveReaders(volume);
      return exclusive;
    }
    return addReader(volume);
  } catch (error) {
    exclusive.release();
    throw error;
  } finally {
    if (shared) exclusive.release();
  }
}

const readerPrefix = (volume: string): string => `${basename(volume)}.lock.reader-`;

function refuseLiveReaders(volume: string): void {
  const dir = dirname(volume);
  for (const name of readdirSync(dir).filter((n) => n.startsWith(readerPrefix(volume)))) {
    const found = readHolder(join(dir, name));
    if (found?.holder === undefined) continue;
    if (alive(found.holder)) throw new VolumeInUseError(volume, found.holder.pid);
    tryUnlink(join(dir, name));
  }
}

function addReader(volume: string): VolumeLock {
  const token = randomBytes(16).toString('hex');
  const mine = `${process.pid} ${startTime(process.pid) ?? '-'} ${token}\n`;
  const path = join(dirname(volume), `${readerPrefix(volume)}${token}`);
  const fd = openSync(path, 'wx', 0o644);
  try {
    writeSync(fd, mine);
  } finally {
    closeSync(fd);
  }
  return held(path, mine);
}

function lockExclusive(volume: string): VolumeLock {
  const lockPath = `${volume}.lock`;
  const token = randomBytes(16).toString('hex');
  const mine = `${process.pid} ${startTime(process.pid) ?? '-'} ${token}\n`;
  // Written in full under a private name first, so nobody ever reads a half-written lock.
  const draft = join(dirname(lockPath), `.${basename(lockPath)}.${token}`);
  let fd: number;
  try {
    fd = openSync(draft, 'wx', 0o644);
  } catch (error) {
    throw new Error(
      `cannot lock volume ${volume}: ${(error as Error).message} (its directory must be writable)`,
    );
  }
  try {
    writeSync(fd, mine);
  } finally {
    closeSync(fd);
  }
  try {
    // Bounded: each round either takes the lock, finds a live holder, or removes one stale lock.
    for (let round = 0; round < 8; round++) {
      try {
        linkSync(draft, lockPath);
        return held(lockPath, mine);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const found = readHolder(lockPath);
      if (found === undefined) continue;
      if (found.holder === undefined)
        throw new Error(`${lockPath}: not a volume lock; remove it if no cloister run uses ${volume}`);
      if (alive(found.holder)) throw new VolumeInUseError(volume, found.holder.pid);
      removeStale(lockPath, found.text, token);
    }
    throw new Error(`${lockPath}: could not take the lock (contended); try again`);
  } finally {
    tryUnlink(draft);
  }
}

function held(lockPath: string, mine: string): VolumeLock {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    // Only our own lock: never one a taker installed after judging ours stale.
    if (readHolder(lockPath)?.text === mine) tryUnlink(lockPath);
  };
  process.on('exit', release);
  return { path: lockPath, release };
}
