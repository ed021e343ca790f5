/** The local block store: one file per sealed block under a work directory (untrusted storage). */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { BlockStore } from '../host-io.ts';

export class FileBlockStore implements BlockStore {
  private readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }

  private path(name: string): string {
    const path = resolve(join(this.root, name));
    if (!path.startsWith(this.root + sep))
      throw new Error(`block name ${JSON.stringify(name)} leaves the store`);
    return path;
  }

  async put(name: string, bytes: Uint8Array): Promise<void> {
    const path = this.path(name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  }

  async get(name: string): Promise<Uint8Array> {
    try {
      return await readFile(this.path(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new Error(`block ${name} is not in the store`);
      throw error;
    }
  }

  async remove(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((n) => rm(this.path(n), { force: true })));
  }
}
