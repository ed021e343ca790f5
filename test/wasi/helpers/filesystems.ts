/** File systems that the shared WASI suites run on: each test gets a fresh, empty one. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostDirFs, createTmpfs } from '../../../src/enclave/vfs/index.ts';
import type { FileSystem } from '../../../src/enclave/vfs/index.ts';
import { NodeHostDir } from './node-hostdir.ts';

export interface FsFixture {
  fs: FileSystem;
  cleanup(): void;
}

export const FILE_SYSTEMS: { name: string; make(): FsFixture }[] = [
  { name: 'tmpfs', make: () => ({ fs: createTmpfs(), cleanup: () => {} }) },
  {
    name: 'hostdir',
    make: () => {
      const dir = mkdtempSync(join(tmpdir(), 'cloister-hostdir-'));
      return {
        fs: createHostDirFs(new NodeHostDir([dir]), 0),
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
];
