import { Buffer } from 'node:buffer';
import { hkdfSync, randomUUID } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeIfKilled } from '../host/cleanup-watcher.ts';
import { writeDescriptor, type ImageDescriptor } from './descriptor.ts';
import { buildExt4, derivedUuid, type Ext4Builder } from './ext4.ts';
import { encryptLuks2Payload, formatLuks2, type Luks2FormatOptions } from './luks2-format.ts';
import type { ProgressCallback } from './progress.ts';
import { openSource, stageSource, type SourceKind } from './sources.ts';
import { Stager } from './stage.ts';
import type { TarLimits } from './tar.ts';
import { buildVerityTree } from './verity-format.ts';

/** Options for {@link buildImage}. */
export interface BuildOptions {
  /** Directory, tar (plain or gzip), OCI layout (directory or archive) or `docker save` archive. */
  from: string;
  out: string;
  /** Timestamp for every file and the file system (default 0). */
  epoch?: number;
  /** ext4 size in bytes; default: contents plus headroom. */
  size?: number;
  /** Encrypt with LUKS2 under this secret (passphrase or key-file bytes). */
  encrypt?: { secret: Uint8Array; kdf?: Luks2FormatOptions['kdf'] };
  limits?: TarLimits;
  onProgress?: ProgressCallback;
  /** Who writes the ext4 (default: mke2fs when installed, else the built-in libext2fs). */
  ext4Builder?: Ext4Builder;
  /** Non-fatal notices (skipped device files). */
  warn?: (message: string) => void;
}

/** What was built. */
export interface BuildResult {
  descriptor: ImageDescriptor;
  descriptorPath: string;
  source: SourceKind;
  /** Who wrote the ext4. */
  ext4Builder: Exclude<Ext4Builder, 'auto'>;
}

/** LUKS2 data offset: 1 MiB leaves room for three keyslots and keeps small images small. */
const LUKS2_DATA_OFFSET = 1 << 20;
const CHUNK = 1 << 20;

function readFully(fd: number, buf: Uint8Array, offset: number): void {
  for (let done = 0; done < buf.length;) {
    const n = readSync(fd, buf, done, buf.length - done, offset + done);
    if (n === 0) throw new Error('unexpected end of file');
    done += n;
  }
}

/** Writes the LUKS2 header area and the encrypted file system to `out`. */
function encryptTo(
  ext4Path: string,
  out: string,
  opts: NonNullable<BuildOptions['encrypt']>,
  progress?: ProgressCallback,
) {
  const f = formatLuks2({
    secret: opts.secret,
    kdf: opts.kdf,
    dataOffset: LUKS2_DATA_OFFSET,
    sectorSize: 4096,
  });
  const input = openSync(ext4Path, 'r');
  const output = openSync(out, 'w');
  try {
    writeSync(output, f.metadata, 0, f.metadata.length, 0);
    const size = fstatSync(input).size;
    const chunk = new Uint8Array(CHUNK);
    for (let offset = 0; offset < size; offset += CHUNK) {
      const part = chunk.subarray(0, Math.min(CHUNK, size - offset));
      readFully(input, part, offset);
      writeSync(
        output,
        encryptLuks2Payload(f, offset / f.sectorSize, part),
        0,
        part.length,
        f.dataOffset + offset,
      );
      progress?.('encrypting', offset + part.length, size);
    }
  } finally {
    closeSync(input);
    closeSync(output);
  }
  return f;
}

/** Appends the dm-verity superblock and tree to `out` (hash offset = current size). */
function protect(out: string, salt: Uint8Array | undefined, uuid: string, progress?: ProgressCallback) {
  const fd = openSync(out, 'r+');
  try {
    const size = fstatSync(fd).size;
    const read = (offset: number, length: number) => {
      const buf = new Uint8Array(length);
      readFully(fd, buf, offset);
      progress?.('hashing', offset + length, size);
      return buf;
    };
    const tree = buildVerityTree(read, size / 4096, size, { salt, uuid });
    writeSync(fd, tree.hashArea, 0, tree.hashArea.length, size);
    return { tree, size: size + tree.hashArea.length };
  } finally {
    closeSync(fd);
  }
}

/**
 * Builds an image: source → staged tree → reproducible ext4 → optional LUKS2 (the ext4 encrypted,
 * as `cryptsetup luksFormat` would) → dm-verity appended over the whole of it (as `veritysetup
 * format --hash-offset`), and the `OUT.json` descriptor. Unencrypted images are reproducible: the
 * same input and epoch give the same bytes, since the UUIDs, hash seed and verity salt derive from a
 * digest of the staged tree. Encrypted images use fresh random keys, salts and UUIDs.
 */
export function buildImage(opts: BuildOptions): BuildResult {
  const epoch = opts.epoch ?? 0;
  // Written beside the output and renamed at the end: a failed build leaves any old image alone.
  const partial = `${opts.out}.partial`;
  // The watcher is started before the folder exists: a kill between the two leaves nothing behind.
  const scratch = join(tmpdir(), `cloister-image-${randomUUID()}`);
  const watcher = removeIfKilled([partial, scratch]);
  try {
    mkdirSync(scratch, { mode: 0o700 });
    const stageDir = join(scratch, 'root');
    mkdirSync(stageDir);
    const source = openSource(opts.from, opts.limits);
    const stager = new Stager(stageDir);
    stageSource(source, stager, opts.onProgress);
    const tree = stager.finish(epoch);
    if (tree.skipped.length > 0) {
      opts.warn?.(`skipped ${tree.skipped.length} device or FIFO entries (first: /${tree.skipped[0]})`);
    }
    const ext4Path = opts.encrypt ? join(scratch, 'fs.ext4') : partial;
    const ext4 = buildExt4(ext4Path, {
      stageDir,
      tree,
      epoch,
      size: opts.size,
      scratch,
      builder: opts.ext4Builder,
      onProgress: opts.onProgress,
    });
    rmSync(stageDir, { recursive: true, force: true });

    const luks = opts.encrypt ? encryptTo(ext4Path, partial, opts.encrypt, opts.onProgress) : undefined;
    // Seeded salt and UUID would let anyone holding a guessed plaintext confirm it: random when encrypted.
    const salt = luks
      ? undefined
      : hkdfSync('sha256', tree.digest, new Uint8Array(0), 'cloister verity salt', 32);
    const verityUuid = luks ? randomUUID() : derivedUuid(tree.digest, 'cloister verity uuid');
    const { tree: verity, size } = protect(
      partial,
      salt && new Uint8Array(salt),
      verityUuid,
      opts.onProgress,
    );

    const descriptor: ImageDescriptor = {
      format: 'cloister-image/1',
      rootHash: verity.rootHash,
      size,
      verity: {
        hashOffset: verity.params.hashOffset,
        dataBlocks: verity.params.dataBlocks,
        dataBlockSize: verity.params.dataBlockSize,
        hashBlockSize: verity.params.hashBlockSize,
        hashAlgorithm: 'sha256',
        salt: Buffer.from(verity.params.salt).toString('hex'),
        uuid: verityUuid,
        hashSize: verity.hashArea.length,
      },
      luks2: luks
        ? {
            uuid: luks.uuid,
            dataOffset: luks.dataOffset,
            sectorSize: luks.sectorSize,
            cipher: 'aes-xts-plain64',
            keyBits: luks.volumeKey.length * 8,
            kdf: opts.encrypt?.kdf?.type ?? 'argon2id',
          }
        : null,
      ext4: { offset: luks?.dataOffset ?? 0, size: ext4.size, uuid: luks ? null : ext4.uuid },
      sourceDateEpoch: epoch,
    };
    renameSync(partial, opts.out);
    return {
      descriptor,
      descriptorPath: writeDescriptor(opts.out, descriptor),
      source: source.kind,
      ext4Builder: ext4.builder,
    };
  } finally {
    rmSync(partial, { force: true });
    rmSync(scratch, { recursive: true, force: true });
    watcher.release();
  }
}
