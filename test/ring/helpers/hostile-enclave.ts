// The enclave's side of a ring served by a scripted, possibly hostile host in a worker thread.
import type { Worker } from 'node:worker_threads';
import { HostChannel } from '../../../src/enclave/ring/channel.ts';
import { RingHostDir } from '../../../src/enclave/ring/host-services.ts';
import { createRingBuffer, viewRing } from '../../../src/interface/ring.ts';
import { startTsWorker } from '../../helpers/ts-worker.ts';
import type { HostileMode } from './scripted-host.ts';

const workers: Worker[] = [];

/** A channel and host directory over a fresh ring whose host behaves as `mode` says. */
export function enclaveWith(mode: HostileMode): { channel: HostChannel; dir: RingHostDir } {
  const ring = createRingBuffer();
  workers.push(startTsWorker(new URL('./scripted-host.ts', import.meta.url), { workerData: { ring, mode } }));
  const channel = new HostChannel(viewRing(ring));
  return { channel, dir: new RingHostDir(channel) };
}

/** Stops every scripted host started so far (register with `after`). */
export async function stopScriptedHosts(): Promise<void> {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
}
