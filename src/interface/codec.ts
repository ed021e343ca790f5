/**
 * Encodings of structured payloads in ring slots (both sides). Decoders run on bytes the enclave
 * has already copied out of shared memory, and reject anything malformed with `WireError`.
 */
import type { HostDirEntry, HostStat } from './services.ts';

export class WireError extends Error {
  override name = 'WireError';
}

/** Size of an encoded `HostStat`. */
export const STAT_BYTES = 64;

export function encodeStat(stat: HostStat, out: Uint8Array): number {
  const v = new DataView(out.buffer, out.byteOffset, STAT_BYTES);
  v.setUint32(0, stat.filetype, true);
  v.setBigUint64(8, stat.dev, true);
  v.setBigUint64(16, stat.ino, true);
  v.setBigUint64(24, stat.nlink, true);
  v.setBigUint64(32, stat.size, true);
  v.setBigUint64(40, stat.atimNs, true);
  v.setBigUint64(48, stat.mtimNs, true);
  v.setBigUint64(56, stat.ctimNs, true);
  return STAT_BYTES;
}

export function decodeStat(bytes: Uint8Array): HostStat {
  if (bytes.length !== STAT_BYTES) throw new WireError(`stat reply of ${bytes.length} bytes`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, STAT_BYTES);
  const filetype = v.getUint32(0, true);
  if (filetype > 7) throw new WireError(`stat reply with file type ${filetype}`);
  return {
    filetype,
    dev: v.getBigUint64(8, true),
    ino: v.getBigUint64(16, true),
    nlink: v.getBigUint64(24, true),
    size: v.getBigUint64(32, true),
    atimNs: v.getBigUint64(40, true),
    mtimNs: v.getBigUint64(48, true),
    ctimNs: v.getBigUint64(56, true),
  };
}

const ENTRY_HEADER_BYTES = 12;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Encodes as many entries as fit in `out`; returns [bytes used, entries written]. */
export function encodeDirEntries(entries: readonly HostDirEntry[], out: Uint8Array): [number, number] {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let pos = 0;
  let count = 0;
  for (const entry of entries) {
    const name = utf8.encode(entry.name);
    if (pos + ENTRY_HEADER_BYTES + name.length > out.length) break;
    v.setBigUint64(pos, entry.ino, true);
    v.setUint16(pos + 8, entry.filetype, true);
    v.setUint16(pos + 10, name.length, true);
    out.set(name, pos + ENTRY_HEADER_BYTES);
    pos += ENTRY_HEADER_BYTES + name.length;
    count++;
  }
  return [pos, count];
}

export function decodeDirEntries(bytes: Uint8Array): HostDirEntry[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: HostDirEntry[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (pos + ENTRY_HEADER_BYTES > bytes.length) throw new WireError('truncated directory entry');
    const ino = v.getBigUint64(pos, true);
    const filetype = v.getUint16(pos + 8, true);
    const nameLength = v.getUint16(pos + 10, true);
    const end = pos + ENTRY_HEADER_BYTES + nameLength;
    if (filetype > 7) throw new WireError(`directory entry with file type ${filetype}`);
    if (nameLength === 0 || end > bytes.length) throw new WireError('directory entry name out of bounds');
    const name = decodeUtf8(bytes.subarray(pos + ENTRY_HEADER_BYTES, end));
    if (name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new WireError(`directory entry with forbidden name ${JSON.stringify(name)}`);
    }
    entries.push({ ino, filetype, name });
    pos = end;
  }
  return entries;
}

export function encodeUtf8(text: string): Uint8Array {
  return utf8.encode(text);
}

export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new WireError('invalid UTF-8');
  }
}

/** Two names (or a symlink target and a name) in one payload, separated by NUL (neither contains NUL). */
export function encodeNamePair(a: string, b: string): Uint8Array {
  return utf8.encode(`${a}\0${b}`);
}

export function decodeNamePair(bytes: Uint8Array): [string, string] {
  const text = decodeUtf8(bytes);
  const parts = text.split('\0');
  if (parts.length !== 2) throw new WireError('malformed name pair');
  return [parts[0], parts[1]];
}
