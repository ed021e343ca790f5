/** The block store on a JetStream object store (untrusted storage, shared by every executor). */
import type { ObjectStore } from '@nats-io/obj';
import type { BlockStore } from '../../host-io.ts';
import { retrying } from './retry.ts';

export class NatsBlockStore implements BlockStore {
  constructor(private readonly objects: ObjectStore) {}

  async put(name: string, bytes: Uint8Array): Promise<void> {
    // A put is whole or absent under its name, so one cut short by a leader change is simply redone.
    await retrying(() => this.objects.putBlob({ name }, bytes));
  }

  async get(name: string): Promise<Uint8Array> {
    const bytes = await retrying(() => this.objects.getBlob(name));
    if (!bytes) throw new Error(`block ${name} is not in the store`);
    return bytes;
  }

  async remove(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((n) => this.objects.delete(n).catch(() => undefined)));
  }
}
