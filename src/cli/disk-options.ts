/**
 * The disk options of `cloister run`: a root image (IMG with its sidecar IMG.json, or a standard
 * image with --root-hash and --hash-offset/--hash-file), its key, and writable volumes. Host-side
 * reads of image headers here only choose what to measure; the enclave checks everything again.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EnclaveSecrets } from '../interface/enclave-start.ts';
import type { MountConfig, RootImageConfig } from '../interface/run-config.ts';
import { parseVeritySuperblock } from '../common/blockdev/verity-superblock.ts';
import type { BlockDeviceFile } from '../host/host-calls.ts';
import { readDescriptor } from '../image/descriptor.ts';
import { FileBlockDevice } from '../image/file-device.ts';
import { findAppendedVerity } from '../image/verify.ts';
import { readVolumeInfo } from '../image/volume-format.ts';
import { LUKS_MAGIC, readAt } from './disk-detect.ts';
import { UsageError } from './run-options.ts';
import { readKeyFile, readPassphraseFile } from './secret-files.ts';
import { lockVolume, type VolumeLock } from './volume-lock.ts';

export interface DiskOptions {
  keyFile?: string;
  passphraseFile?: string;
  rootHash?: string;
  hashOffset?: string;
  hashFile?: string;
  overlay?: boolean;
  volume?: string[];
  volumeKeyFile?: string[];
}

export interface PreparedDisks {
  root?: RootImageConfig;
  volumeMounts: MountConfig[];
  blockDevices: BlockDeviceFile[];
  secrets: EnclaveSecrets;
  /** The volume locks taken (with `lock`): release them when the run ends. */
  locks: VolumeLock[];
}

/** Where the verity superblock of a tree appended to `image` starts, found by scanning. */
function appendedTreeOffset(image: string): number {
  const dev = new FileBlockDevice(image, 4096);
  try {
    const offset = findAppendedVerity(dev);
    if (offset === null) {
      throw new UsageError(
        `${image}: no dm-verity hash tree appended; give --hash-offset BYTES or --hash-file FILE`,
      );
    }
    return offset;
  } finally {
    dev.close();
  }
}

/** A volume key file holds 32 raw bytes or 64 hex digits. */
export function readVolumeKey(path: string, option = '--volume-key-file'): Uint8Array {
  const bytes = readKeyFile(path, option);
  const text = Buffer.from(bytes).toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Uint8Array.from(Buffer.from(text, 'hex'));
  if (bytes.length === 32) return bytes;
  throw new UsageError(`${option} ${path}: expected 32 bytes or 64 hex digits`);
}

function luksUuidAt(path: string, offset: number): string | null {
  const header = readAt(path, offset, 4096);
  if (!LUKS_MAGIC.every((b, i) => header[i] === b)) return null;
  const raw = header.subarray(168, 208);
  const end = raw.indexOf(0);
  return Buffer.from(raw.subarray(0, end < 0 ? raw.length : end)).toString('latin1');
}

function rootImage(
  image: string,
  program: string,
  opts: DiskOptions,
): { root: RootImageConfig; files: BlockDeviceFile[] } {
  if (program.startsWith('-')) {
    throw new UsageError(
      `${program} after the image is read as the program: end the options with -- before it (run IMG ${program} … -- /bin/app.wasm)`,
    );
  }
  if (!program.startsWith('/'))
    throw new UsageError('name the program by its absolute path inside the image: run IMG -- /bin/app.wasm');
  const descriptor = readDescriptor(image);
  const hashFile = opts.hashFile ? resolve(opts.hashFile) : undefined;
  const rootHash = (opts.rootHash ?? descriptor?.rootHash)?.toLowerCase();
  if (!rootHash)
    throw new UsageError(`${image}: no ${image}.json; give --root-hash (and --hash-offset or --hash-file)`);
  if (!/^[0-9a-f]{64}$/.test(rootHash)) throw new UsageError('--root-hash must be 64 hex digits');
  let hashOffset: number;
  if (opts.hashOffset !== undefined) hashOffset = Number(opts.hashOffset);
  else if (hashFile) hashOffset = 0;
  else if (descriptor) hashOffset = descriptor.verity.hashOffset;
  else hashOffset = appendedTreeOffset(image);
  if (!Number.isSafeInteger(hashOffset) || hashOffset < 0)
    throw new UsageError('--hash-offset must be a byte count');
  let dataBlocks: number;
  try {
    dataBlocks = parseVeritySuperblock(readAt(hashFile ?? image, hashOffset, 512), hashOffset).params
      .dataBlocks;
  } catch (error) {
    throw new UsageError(
      `${hashFile ?? image}: no dm-verity superblock at byte ${hashOffset} (${(error as Error).message})`,
    );
  }
  const files: BlockDeviceFile[] = [{ path: resolve(image), writable: false }];
  if (hashFile) files.push({ path: hashFile, writable: false });
  return {
    root: {
      rootHash,
      hashOffset,
      separateHashFile: hashFile !== undefined,
      dataBlocks,
      luksUuid: luksUuidAt(image, 0),
      program,
      overlay: opts.overlay ?? false,
    },
    files,
  };
}

/**
 * Prepares the disks of a run. `image` is the root image (or undefined for a plain .wasm run) and
 * `program` the program's path inside it. With `lock` (a run, not a measurement) each volume is
 * locked before anything of it is read, and stays locked until the caller releases it.
 */
export function prepareDisks(
  image: string | undefined,
  program: string | undefined,
  opts: DiskOptions,
  lock = false,
): PreparedDisks {
  const locks: VolumeLock[] = [];
  try {
    return { ...prepareDiskFiles(image, program, opts, lock ? locks : undefined), locks };
  } catch (error) {
    for (const l of locks) l.release();
    throw error;
  }
}

function prepareDiskFiles(
  image: string | undefined,
  program: string | undefined,
  opts: DiskOptions,
  locks: VolumeLock[] | undefined,
): Omit<PreparedDisks, 'locks'> {
  const blockDevices: BlockDeviceFile[] = [];
  const secrets: EnclaveSecrets = { volumeKeys: [] };
  let root: RootImageConfig | undefined;
  if (image) {
    const prepared = rootImage(image, program ?? '', opts);
    root = prepared.root;
    blockDevices.push(...prepared.files);
    if ((opts.keyFile || opts.passphraseFile) && root.luksUuid === null) {
      const option = opts.keyFile ? '--key-file' : '--passphrase-file';
      throw new UsageError(`${option}: ${image} is not encrypted (no LUKS2 header); it needs no key`);
    }
    if (opts.keyFile && opts.passphraseFile)
      throw new UsageError('give either --key-file or --passphrase-file, not both');
    if (opts.keyFile) secrets.rootKey = readKeyFile(opts.keyFile);
    else if (opts.passphraseFile) secrets.rootKey = readPassphraseFile(opts.passphraseFile);
  } else if (opts.keyFile || opts.passphraseFile || opts.rootHash || opts.overlay) {
    throw new UsageError('--key-file, --passphrase-file, --root-hash and --overlay need a disk image');
  }
  const volumeMounts: MountConfig[] = [];
  const keyFiles = opts.volumeKeyFile ?? [];
  for (const [i, spec] of (opts.volume ?? []).entries()) {
    const sep = spec.indexOf('::');
    if (sep < 0) throw new UsageError(`--volume ${spec}: expected VOLUME::GUEST or VOLUME::GUEST:ro`);
    const readOnly = spec.endsWith(':ro');
    const guest = spec.slice(sep + 2, readOnly ? -3 : undefined);
    const path = resolve(spec.slice(0, sep));
    if (!existsSync(path)) throw new UsageError(`--volume ${spec}: ${spec.slice(0, sep)}: no such file`);
    const keyFile = keyFiles[i] ?? keyFiles[0];
    // Before the superblock is read: a volume in use is refused before anything of it is looked at.
    if (locks) locks.push(lockVolume(path, { shared: readOnly }));
    let uuid: string;
    try {
      uuid = readVolumeInfo(path).uuid;
    } catch (error) {
      throw new UsageError(`--volume ${spec}: not a Cloister volume (${(error as Error).message})`);
    }
    volumeMounts.push({ guest, type: 'volume', uuid, ...(readOnly && { readOnly: true }) });
    blockDevices.push({ path, writable: !readOnly });
    // Without a key the enclave refuses the volume; measuring and signing need none.
    if (keyFile) secrets.volumeKeys[i] = readVolumeKey(keyFile);
  }
  return { root, volumeMounts, blockDevices, secrets };
}
