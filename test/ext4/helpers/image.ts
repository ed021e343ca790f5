import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after } from 'node:test';
import { FileBlockDevice as HostFileDevice } from '../../../src/image/file-device.ts';
import { compileExt2fs } from '../../../src/common/ext4/ext4fs.ts';
import type { Ext2fsModule } from '../../../src/common/ext4/ext4fs.ts';
import { tool } from './tools.ts';

/** ext2fs.wasm compiled once for all tests of a file. */
export const ext2fsModule: Ext2fsModule = compileExt2fs(
  readFileSync(new URL('../../../src/common/ext4/ext2fs.wasm', import.meta.url)),
);

/** A scratch directory removed by `dispose()`, or after the test that made it (also when it fails). */
export function scratchDir(): { path: string; dispose: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'cloister-ext4-'));
  after(() => rmSync(path, { recursive: true, force: true }));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs a tool and returns its output; throws with the output when it exits non-zero (unless `allowFail`). */
export function run(name: string, args: string[], allowFail = false): { code: number; out: string } {
  const r = spawnSync(tool(name), args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0 && !allowFail) throw new Error(`${name} ${args.join(' ')} exited ${r.status}:\n${out}`);
  return { code: r.status ?? -1, out };
}

/** Makes an ext4 image file with mke2fs (`-d from` populates it). */
export function mkfs(
  path: string,
  sizeKiB: number,
  options: { from?: string; blockSize?: number; extra?: string[] } = {},
): void {
  const args = ['-q', '-F', '-t', 'ext4', '-b', String(options.blockSize ?? 4096), ...(options.extra ?? [])];
  if (options.from) args.push('-d', options.from);
  run('mke2fs', [...args, path, `${sizeKiB}k`]);
}

/** `e2fsck -fn`: exit code 0 means clean. */
export function fsck(path: string): { code: number; out: string } {
  return run('e2fsck', ['-fn', path], true);
}

/** Runs one debugfs request against an image (read-only). */
export function debugfs(path: string, request: string): string {
  return run('debugfs', ['-R', request, path]).out;
}

/** Dumps a file from an image with debugfs into bytes. */
export function debugfsCat(path: string, file: string, scratch: string): Buffer {
  const out = join(scratch, 'dump.out');
  rmSync(out, { force: true });
  run('debugfs', ['-R', `dump ${file} ${out}`, path]);
  return readFileSync(out);
}

/** The host-side file device, counting the calls that reach it. */
export class FileBlockDevice extends HostFileDevice {
  reads = 0;
  writes = 0;

  constructor(path: string, blockSize = 4096, writable = true) {
    super(path, { blockSize, writable });
    const write = this.write?.bind(this);
    if (write)
      this.write = (block, data) => {
        this.writes++;
        write(block, data);
      };
  }

  override readInto(block: number, dst: Uint8Array): void {
    this.reads++;
    super.readInto(block, dst);
  }
}

/** One line of `debugfs -R 'ls -p DIR'`. */
export interface DebugfsEntry {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  name: string;
  size: number;
}

/** Lists a directory of an image with debugfs (`ls -p`), `.` and `..` included, unused (inode 0) slots not. */
export function debugfsLs(path: string, dir: string): DebugfsEntry[] {
  return debugfs(path, `ls -p ${dir}`)
    .split('\n')
    .filter((line) => line.startsWith('/'))
    .map((line) => {
      const [, ino, mode, uid, gid, name, size] = line.split('/');
      return {
        ino: Number(ino),
        mode: parseInt(mode, 8),
        uid: Number(uid),
        gid: Number(gid),
        name,
        size: size === '' ? 0 : Number(size),
      };
    })
    .filter((e) => e.ino !== 0);
}
