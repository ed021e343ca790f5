/**
 * `nats://`: the job's sealed input files reach executors through the job's object store, so an
 * executor needs only the NATS URL, not the driver's file system. They are ciphertext already; an
 * object's name is a digest of the path the plan names (routing metadata the task message carries anyway).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { BlockStore } from '../../host-io.ts';

export const inputObjectName = (path: string): string =>
  `input.${createHash('sha256').update(path).digest('hex')}`;

/** The driver's side: puts each listed input file into the store once. */
export class InputPublisher {
  private readonly published = new Set<string>();
  constructor(private readonly store: BlockStore) {}

  async publish(paths: readonly string[]): Promise<void> {
    for (const path of paths) {
      if (this.published.has(path)) continue;
      await this.store.put(inputObjectName(path), new Uint8Array(await readFile(path)));
      this.published.add(path);
    }
  }
}

/** The executor's side: an input file by the path the task names, from the store. */
export const inputReader =
  (store: BlockStore) =>
  (path: string): Promise<Uint8Array> =>
    store.get(inputObjectName(path));
