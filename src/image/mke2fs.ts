import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlockCache } from '../common/blockdev/cache.ts';
import { Ext4Fs, ROOT_INO } from '../common/ext4/index.ts';
import { ImageError } from './errors.ts';
import { FileBlockDevice } from './file-device.ts';
import { ext2fsWasm } from './populate.ts';
import type { FileAttributes } from './stage.ts';

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
function runE2fsTool(
  name: string,
  args: string[],
  env: Record<string, string>,
  path: string,
): { stdout: string; stderr: string } {
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
  return { stdout: r.stdout, stderr: r.stderr };
}

/** Runs an e2fsprogs tool and returns its standard output. */
export function e2fsTool(
  name: string,
  args: string[],
  env: Record<string, string> = {},
  path = TOOL_PATH,
): string {
  return runE2fsTool(name, args, env, path).stdout;
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

/** Whether e2fsprogs' mke2fs can be run. */
export function hasMke2fs(): boolean {
  const r = spawnSync('mke2fs', ['-V'], { env: { ...process.env, PATH: TOOL_PATH } });
  return !(r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT');
}

/** Options for {@link runMke2fs}. */
export interface Mke2fsOptions {
  stageDir: string;
  /** Bytes, a multiple of 4096. */
  size: number;
  inodes: number;
  uuid: string;
  /** Directory hash seed (a UUID). */
  hashSeed: string;
  epoch: number;
  /** Where the mke2fs configuration and debugfs script go. */
  scratch: string;
}

/** The environment that pins e2fsprogs' configuration and clock. */
function e2fsEnv(scratch: string, epoch: number): Record<string, string> {
  const config = join(scratch, 'mke2fs.conf');
  writeFileSync(config, MKE2FS_CONF);
  // e2fsprogs treats E2FSPROGS_FAKE_TIME=0 as unset, so superblock times are at least 1970-01-01T00:00:01.
  return { MKE2FS_CONFIG: config, E2FSPROGS_FAKE_TIME: String(Math.max(epoch, 1)) };
}

/**
 * Runs `mke2fs -d` over the staged tree: fixed configuration, UUID and directory hash seed, 4 KiB
 * blocks, 256-byte inodes, no journal, no resize inode, no reserved blocks, no lazy initialization.
 */
export function runMke2fs(out: string, o: Mke2fsOptions): void {
  e2fsTool(
    'mke2fs',
    ['-q', '-F', '-t', 'ext4', '-b', '4096', '-I', '256', '-N', String(o.inodes), '-m', '0']
      .concat(['-O', '^has_journal,^resize_inode', '-U', o.uuid])
      .concat(['-E', `hash_seed=${o.hashSeed},root_owner=0:0,lazy_itable_init=0,nodiscard`])
      .concat(['-d', o.stageDir, out, `${o.size / 1024}k`]),
    e2fsEnv(o.scratch, o.epoch),
  );
}

/** The inode number of each path (relative to the root, '' is the root), looked up with libext2fs. */
function inodesOf(image: string, paths: string[]): Map<string, number> {
  const device = new FileBlockDevice(image);
  const fs = Ext4Fs.open(new BlockCache(device), { wasm: ext2fsWasm(), readOnly: true });
  try {
    const inodes = new Map<string, number>();
    for (const path of paths) {
      let ino = ROOT_INO;
      for (const name of path === '' ? [] : path.split('/')) ino = fs.lookupIn(ino, name);
      inodes.set(path, ino);
    }
    return inodes;
  } finally {
    fs.close();
    device.close();
  }
}

/**
 * Sets every owner and mode from the entries with debugfs (so building needs no root), and every
 * timestamp to `epoch` (mke2fs copies the staged files' ctimes, which no one can set). Files are
 * named by inode number, so no file name (quotes, newlines, words like "error") reaches the script.
 */
export function applyAttributes(
  out: string,
  attributes: FileAttributes[],
  epoch: number,
  scratch: string,
): void {
  const inodes = inodesOf(
    out,
    attributes.map((a) => a.path),
  );
  const script = [
    ...attributes.flatMap((a) => {
      const ino = inodes.get(a.path) as number;
      return [
        `sif <${ino}> mode 0${a.mode.toString(8)}`,
        `sif <${ino}> uid ${a.uid}`,
        `sif <${ino}> gid ${a.gid}`,
      ];
    }),
    ...usedInodes(out).flatMap((ino) =>
      ['atime', 'ctime', 'mtime', 'crtime'].map((f) => `sif <${ino}> ${f} @${epoch}`),
    ),
  ].join('\n');
  const scriptPath = join(scratch, 'attributes.debugfs');
  writeFileSync(scriptPath, `${script}\n`);
  // debugfs echoes each command on stdout and reports failures on stderr (after its version banner).
  const { stderr } = runE2fsTool(
    'debugfs',
    ['-w', '-f', scriptPath, out],
    e2fsEnv(scratch, epoch),
    TOOL_PATH,
  );
  const problem = stderr.split('\n').find((line) => line.trim() !== '' && !/^debugfs \d/.test(line));
  if (problem) throw new ImageError(`debugfs: ${problem}`);
}
