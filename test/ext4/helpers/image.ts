import {
  closeSync,
  fstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { fsyncSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after } from 'node:test';
import type { BlockDevice } from '../../../src/enclave/ext4/device.ts';
import { compileExt2fs } from '../../../src/enclave/ext4/ext4fs.ts';
import type { Ext2fsModule } from '../../../src/enclave/ext4/ext4fs.ts';
import { tool } from './tools.ts';

/** ext2fs.wasm compiled once for all tests of a file. */
export const ext2fsModule: Ext2fsModule = compileExt2fs(
  readFileSync(new URL('../../../src/enclave/ext4/ext2fs.wasm', import.meta.url)),
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

/** A block device over an image file, with synchronous host I/O (the tests' stand-in for the block layer). */
export class FileBlockDevice implements BlockDevice {
  readonly sizeBytes: number;
  reads = 0;
  writes = 0;
  private fd: number;

  constructor(
    path: string,
    readonly blockSize = 4096,
    writable = true,
  ) {
    this.fd = openSync(path, writable ? 'r+' : 'r');
    const size = fstatSync(this.fd).size;
    this.sizeBytes = size - (size % blockSize);
  }

  read(offsetBytes: number, length: number): Uint8Array {
    this.reads++;
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offsetBytes + done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  }

  write(offsetBytes: number, data: Uint8Array): void {
    this.writes++;
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offsetBytes + done);
  }

  flush(): void {
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
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
