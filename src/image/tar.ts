import { Buffer } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { ImageError } from './errors.ts';

/** Kinds of tar entries the builder understands; `other` (devices, FIFOs) is reported and skipped. */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

/** One member of a tar archive, after pax and GNU long-name headers are applied. */
export interface TarEntry {
  /** The path as stored (not yet normalized). */
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** File contents (a view into the archive), empty for everything but files. */
  data: Uint8Array;
  /** Symlink target or hard-link source path. */
  linkName: string;
}

/** Limits that keep a hostile archive from exhausting memory. */
export interface TarLimits {
  /** Largest archive accepted, compressed or not, bytes (default: 2 GiB - 1, Node's largest file read). */
  maxArchiveBytes?: number;
  /** Largest single member, bytes (default 2 GiB). */
  maxEntryBytes?: number;
}

const BLOCK = 512;
/** Default for {@link TarLimits.maxArchiveBytes}. */
export const MAX_ARCHIVE_BYTES = 2 ** 31 - 1;
const GZIP_MAGIC = [0x1f, 0x8b];

/** True when `bytes` starts like a gzip stream. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** Decompresses gzip input (bounded by `maxArchiveBytes`) or returns plain input unchanged. */
export function maybeGunzip(bytes: Uint8Array, name: string, limits: TarLimits = {}): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  const max = limits.maxArchiveBytes ?? MAX_ARCHIVE_BYTES;
  try {
    return gunzipSync(bytes, { maxOutputLength: max });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE')
      throw new ImageError(`${name}: decompresses to more than ${max} bytes`);
    throw new ImageError(`${name}: bad gzip data (${(error as Error).message})`);
  }
}

function cString(block: Uint8Array, at: number, len: number): string {
  const field = block.subarray(at, at + len);
  const nul = field.indexOf(0);
  return Buffer.from(nul < 0 ? field : field.subarray(0, nul)).toString('utf8');
}

/** A numeric field: octal text, or GNU base-256 (high bit set) for large values. */
function numeric(block: Uint8Array, at: number, len: number, what: string, name: string): number {
  const field = block.subarray(at, at + len);
  if (field[0] & 0x80) {
    if (field[0] & 0x40) throw new ImageError(`${name}: negative ${what} in a tar header`);
    let value = BigInt(field[0] & 0x3f);
    for (let i = 1; i < len; i++) value = (value << 8n) | BigInt(field[i]);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ImageError(`${name}: ${what} is too large`);
    return Number(value);
  }
  const text = cString(block, at, len).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text))
    throw new ImageError(`${name}: malformed ${what} ${JSON.stringify(text)} in a tar header`);
  const value = parseInt(text, 8);
  if (!Number.isSafeInteger(value)) throw new ImageError(`${name}: ${what} is too large`);
  return value;
}

function checksumOk(block: Uint8Array): boolean {
  const stored = parseInt(cString(block, 148, 8).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum === stored;
}

/** Parses pax extended-header records (`LEN key=value\n`). */
function paxRecords(data: Uint8Array, name: string): Map<string, string> {
  const out = new Map<string, string>();
  const text = Buffer.from(data);
  for (let at = 0; at < text.length;) {
    if (text[at] === 0) break;
    const space = text.indexOf(0x20, at);
    const len = space < 0 ? NaN : Number(text.subarray(at, space).toString('latin1'));
    if (!Number.isSafeInteger(len) || len <= space - at || at + len > text.length) {
      throw new ImageError(`${name}: malformed pax header record`);
    }
    const record = text.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq < 0) throw new ImageError(`${name}: malformed pax header record`);
    out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

function paxNumber(value: string, key: string, name: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > Number.MAX_SAFE_INTEGER) {
    throw new ImageError(`${name}: bad pax ${key} ${JSON.stringify(value)}`);
  }
  return Math.floor(n);
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'other',
  '4': 'other',
  '5': 'dir',
  '6': 'other',
};

/**
 * Reads every member of an (uncompressed) tar archive: ustar, pax (`x` and `g` headers: path,
 * linkpath, size, uid, gid, mtime) and GNU long names (`L`, `K`). Refuses bad checksums, truncated
 * headers or data, oversized members, sparse and multi-volume members.
 */
export function readTar(archive: Uint8Array, name: string, limits: TarLimits = {}): TarEntry[] {
  const maxEntry = limits.maxEntryBytes ?? 2 * 2 ** 30;
  const entries: TarEntry[] = [];
  let global = new Map<string, string>();
  let local = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let at = 0;
  for (;;) {
    if (at === archive.length) break; // some writers omit the two zero blocks
    if (at + BLOCK > archive.length) throw new ImageError(`${name}: truncated tar header at byte ${at}`);
    const header = archive.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break;
    if (!checksumOk(header)) {
      throw new ImageError(`${name}: bad tar header checksum at byte ${at} (corrupt, or not a tar archive)`);
    }
    const typeflag = String.fromCharCode(header[156]);
    const pax = new Map([...global, ...local]);
    const sizeText = pax.get('size');
    const size =
      sizeText !== undefined ? paxNumber(sizeText, 'size', name) : numeric(header, 124, 12, 'size', name);
    if (size > maxEntry) {
      throw new ImageError(`${name}: member at byte ${at} declares ${size} bytes (limit ${maxEntry})`);
    }
    const dataStart = at + BLOCK;
    if (dataStart + size > archive.length) {
      throw new ImageError(`${name}: truncated: member at byte ${at} needs ${size} bytes of data`);
    }
    const data = archive.subarray(dataStart, dataStart + size);
    at = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    switch (typeflag) {
      case 'x':
        local = paxRecords(data, name);
        continue;
      case 'g':
        global = new Map([...global, ...paxRecords(data, name)]);
        continue;
      case 'L':
        longName = cString(data, 0, data.length);
        continue;
      case 'K':
        longLink = cString(data, 0, data.length);
        continue;
    }
    const type = TYPES[typeflag];
    if (type === undefined) {
      throw new ImageError(`${name}: unsupported tar member type '${typeflag}' at byte ${at - BLOCK}`);
    }
    const magic = cString(header, 257, 6);
    const prefix = magic === 'ustar' ? cString(header, 345, 155) : '';
    const base = cString(header, 0, 100);
    const path = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${base}` : base);
    const num = (key: string, off: number, len: number) => {
      const v = pax.get(key);
      return v !== undefined ? paxNumber(v, key, name) : numeric(header, off, len, key, name);
    };
    entries.push({
      path,
      type: typeflag === '5' || (type === 'file' && path.endsWith('/')) ? 'dir' : type,
      mode: numeric(header, 100, 8, 'mode', name) & 0o7777,
      uid: num('uid', 108, 8),
      gid: num('gid', 116, 8),
      mtime: num('mtime', 136, 12),
      data: type === 'file' ? data : new Uint8Array(0),
      linkName: pax.get('linkpath') ?? longLink ?? cString(header, 157, 100),
    });
    local = new Map();
    longName = undefined;
    longLink = undefined;
  }
  return entries;
}
