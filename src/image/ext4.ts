import { Buffer } from 'node:buffer';
import { hkdfSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageError } from './errors.ts';
import { writeEmptyExt4 } from './mkfs.ts';
import { Ext4FullError, populateExt4 } from './populate.ts';
import type { StagedTree } from './stage.ts';

/** Options for {@link buildExt4}. */
export interface Ext4Options {
  /** Staged tree (normalized by `Stager.finish`). */
  stageDir: string;
  tree: StagedTree;
  /** Every timestamp in the file system. */
  epoch: number;
  /** File system size in bytes (rounded up to 4 KiB); default: the contents plus headroom. */
  size?: number;
  /** Scratch directory for the mke2fs configuration and debugfs script. */
  scratch: string;
  /** Who writes the file system (default 'auto': mke2fs when installed, else libext2fs). */
  builder?: Ext4Builder;
}

/** `mke2fs` (e2fsprogs) or the enclave's `libext2fs` (WebAssembly, no tools needed). */
export type Ext4Builder = 'auto' | 'mke2fs' | 'libext2fs';

/** The built file system. */
export interface Ext4Result {
  uuid: string;
  size: number;
  builder: Exclude<Ext4Builder, 'auto'>;
}

const BLOCK = 4096;
// A fixed configuration, so the host's /etc/mke2fs.conf cannot change the image.
const MKE2FS_CONF = `[defaults]
	base_features = sparse_super,large_file,filetype,dir_index,ext_attr
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
	reserved_ratio = 0
[fs_types]
	ext4 = {
		features = extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`;
// e2fsprogs lives in /usr/sbin, which is not on every user's PATH.
const TOOL_PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

/** Runs an e2fsprogs tool; a missing tool is an error naming the package to install. */
export function e2fsTool(
  name: string,
  args: string[],
  env: Record<string, string> = {},
  path = TOOL_PATH,
): string {
  const r = spawnSync(name, args, {
    encoding: 'utf8',
    env: { ...process.env, PATH: path, ...env },
    maxBuffer: 1 << 28,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new ImageError(`${name} not found: install e2fsprogs (e.g. apt-get install e2fsprogs)`);
  }
  if (r.status !== 0)
    throw new ImageError(`${name} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  return r.stdout;
}

/** A UUID derived from the input digest, so that the same input gives the same file system. */
export function derivedUuid(seed: Uint8Array, label: string): string {
  const b = Buffer.from(hkdfSync('sha256', seed, new Uint8Array(0), label, 16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Inodes in use (root and from the first non-reserved inode on), read from dumpe2fs. */
function usedInodes(image: string): number[] {
  const out = e2fsTool('dumpe2fs', [image]);
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(out)?.[1]);
  const count = field('Inode count');
  const first = field('First inode');
  const free = new Set<number>();
  for (const m of out.matchAll(/^\s+Free inodes: (.*)$/gm)) {
    for (const range of m[1].split(',')) {
      const [lo, hi] = range.trim().split('-').map(Number);
      if (Number.isSafeInteger(lo)) for (let i = lo; i <= (hi ?? lo); i++) free.add(i);
    }
  }
  const used = [2];
  for (let i = first; i <= count; i++) if (!free.has(i)) used.push(i);
  return used;
}

/** Size with headroom: contents, inode tables, metadata, plus 10 % and 1 MiB. */
function defaultSize(tree: StagedTree, inodes: number): number {
  const blocks = tree.blocks + Math.ceil((inodes * 256) / BLOCK);
  return (Math.ceil(blocks * 1.1) + 256) * BLOCK;
}

/** Whether e2fsprogs' mke2fs can be run. */
export function hasMke2fs(): boolean {
  const r = spawnSync('mke2fs', ['-V'], { env: { ...process.env, PATH: TOOL_PATH } });
  return !(r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT');
}

/**
 * Runs `make(size)` with the requested size, or with the estimate, growing it by half up to four
 * times when the contents do not fit.
 */
function withGrowth(opts: Ext4Options, inodes: number, make: (size: number) => void): void {
  let size = Math.ceil((opts.size ?? defaultSize(opts.tree, inodes)) / BLOCK) * BLOCK;
  for (let attempt = 0; ; attempt++) {
    try {
      make(size);
      return;
    } catch (error) {
      const full =
        error instanceof Ext4FullError ||
        /space|allocate|too small|not enough/i.test((error as Error).message);
      if (opts.size !== undefined && full) {
        throw new ImageError(`the contents do not fit in --size ${opts.size} bytes`);
      }
      if (!full || attempt >= 4) throw error;
      size = Math.ceil((size * 1.5) / BLOCK) * BLOCK;
    }
  }
}

/**
 * With `mke2fs -d`: fixed configuration, UUID and directory hash seed derived from the input digest,
 * no journal, no lazy initialization. Then debugfs sets every owner and mode from the entries (so
 * building needs no root) and every timestamp to `epoch` (mke2fs copies the staged files' ctimes,
 * which no one can set).
 */
function withMke2fs(out: string, opts: Ext4Options, uuid: string, inodes: number): void {
  const hashSeed = derivedUuid(opts.tree.digest, 'cloister ext4 hash seed');
  const config = join(opts.scratch, 'mke2fs.conf');
  writeFileSync(config, MKE2FS_CONF);
  // e2fsprogs treats E2FSPROGS_FAKE_TIME=0 as unset, so superblock times are at least 1970-01-01T00:00:01.
  const env = { MKE2FS_CONFIG: config, E2FSPROGS_FAKE_TIME: String(Math.max(opts.epoch, 1)) };
  withGrowth(opts, inodes, (size) => {
    rmSync(out, { force: true });
    e2fsTool(
      'mke2fs',
      ['-q', '-F', '-t', 'ext4', '-b', String(BLOCK), '-I', '256', '-N', String(inodes), '-m', '0']
        .concat(['-O', '^has_journal,^resize_inode', '-U', uuid])
        .concat(['-E', `hash_seed=${hashSeed},root_owner=0:0,lazy_itable_init=0,nodiscard`])
        .concat(['-d', opts.stageDir, out, `${size / 1024}k`]),
      env,
    );
  });
  // debugfs reads one command per line; a double quote inside a quoted name is written twice.
  const quoted = (rel: string) => `"/${rel.replace(/"/g, '""')}"`;
  const script = [
    ...opts.tree.attributes.flatMap((a) => [
      `sif ${quoted(a.path)} mode 0${a.mode.toString(8)}`,
      `sif ${quoted(a.path)} uid ${a.uid}`,
      `sif ${quoted(a.path)} gid ${a.gid}`,
    ]),
    ...usedInodes(out).flatMap((ino) =>
      ['atime', 'ctime', 'mtime', 'crtime'].map((f) => `sif <${ino}> ${f} @${opts.epoch}`),
    ),
  ].join('\n');
  const scriptPath = join(opts.scratch, 'times.debugfs');
  writeFileSync(scriptPath, `${script}\n`);
  const log = e2fsTool('debugfs', ['-w', '-f', scriptPath, out], env);
  const problem = log.split('\n').find((line) => /^sif:|error|invalid/i.test(line));
  if (problem) throw new ImageError(`debugfs: ${problem}`);
}

/**
 * Builds a reproducible ext4 file system from the staged tree: with e2fsprogs' mke2fs when it is
 * installed (or asked for), else with the enclave's own libext2fs (an empty file system written by
 * `writeEmptyExt4`, filled by `populateExt4`). The two give different (each reproducible) bytes.
 */
export function buildExt4(out: string, opts: Ext4Options): Ext4Result {
  const uuid = derivedUuid(opts.tree.digest, 'cloister ext4 uuid');
  const inodes = Math.max(64, Math.ceil(opts.tree.inodes * 1.25) + 16);
  const builder =
    opts.builder === undefined || opts.builder === 'auto'
      ? hasMke2fs()
        ? 'mke2fs'
        : 'libext2fs'
      : opts.builder;
  if (builder === 'mke2fs') withMke2fs(out, opts, uuid, inodes);
  else {
    withGrowth(opts, inodes, (size) => {
      writeEmptyExt4(out, { size, inodes, uuid, epoch: opts.epoch });
      populateExt4(out, opts.stageDir, opts.tree.attributes, opts.epoch);
    });
  }
  return { uuid, size: statSync(out).size, builder };
}
