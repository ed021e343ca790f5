/**
 * Whether `cloister run FILE` names a program or a disk image, from a few bytes of FILE: kept apart
 * from `disk-options.ts`, whose image and volume formats (and their crypto) load only when a run
 * has a disk.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { descriptorPath } from '../image/descriptor.ts';
import { UsageError } from './run-options.ts';

export const LUKS_MAGIC = [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe];

export function readAt(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const out = new Uint8Array(length);
    const n = readSync(fd, out, 0, length, offset);
    return out.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** A LUKS2 header at the start, or an ext4 superblock magic at byte 1080. */
function hasDiskSignature(path: string): boolean {
  const head = readAt(path, 0, 1082);
  return LUKS_MAGIC.every((b, i) => head[i] === b) || (head[1080] === 0x53 && head[1081] === 0xef);
}

/**
 * True when `run FILE` means a disk image: FILE is not a WebAssembly module, and it has a sidecar
 * (IMG.json) or the command line names its hash tree (--root-hash or --hash-file). A disk image
 * without either is a usage error that says so; anything else is treated as a program, so a stray
 * file gets "not a WebAssembly module".
 */
export function looksLikeImage(path: string, treeNamed: boolean): boolean {
  if (!existsSync(path) || statSync(path).isDirectory()) return false;
  const head = readAt(path, 0, 4);
  if (head[0] === 0 && head[1] === 0x61 && head[2] === 0x73 && head[3] === 0x6d) return false;
  if (treeNamed || existsSync(descriptorPath(path))) return true;
  if (hasDiskSignature(path)) {
    throw new UsageError(
      `${path} is a disk image without its descriptor ${descriptorPath(path)}: ` +
        'give --root-hash HEX (a hash tree appended to the image is found; a separate one needs --hash-file)',
    );
  }
  return false;
}
