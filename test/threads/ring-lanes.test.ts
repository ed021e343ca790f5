/**
 * The host-call ring's lanes (one per enclave thread after the main worker's 16 slots): the host
 * serves every lane, each in order with its own sequence numbers, and the enclave checks replies
 * on a thread's lane as on lane 0.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Calls } from '../../src/interface/calls.ts';
import { createRingBuffer, ringBytes, SLOT_COUNT, viewRing } from '../../src/interface/ring.ts';
import { HostChannel, HostProtocolError } from '../../src/enclave/ring/channel.ts';
import { RingHostDir } from '../../src/enclave/ring/host-services.ts';
import { startTsWorker } from '../helpers/ts-worker.ts';

const workers: Worker[] = [];
after(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
});

function ringWithLanes(lanes: number, mode: string): HostChannel[] {
  const buffer = createRingBuffer(lanes);
  workers.push(
    startTsWorker(new URL('./helpers/lane-host.ts', import.meta.url), {
      workerData: { ring: buffer, lanes, mode },
    }),
  );
  const ring = viewRing(buffer, lanes);
  return ring.lanes.map((lane) => new HostChannel(ring, lane));
}

test('a ring with N thread lanes has 16 + N slots, and each side checks its size', () => {
  const ring = viewRing(createRingBuffer(3), 3);
  assert.equal(ring.slots.length, SLOT_COUNT + 3);
  assert.deepEqual(ring.lanes[3], { first: SLOT_COUNT + 2, count: 1 });
  assert.throws(() => viewRing(createRingBuffer(3), 2), /ring buffer must be/);
  assert.ok(ringBytes(0) < ringBytes(1));
});

test('calls on lane 0 and on two thread lanes, interleaved, each get their own reply', () => {
  const channels = ringWithLanes(2, 'honest');
  const dirs = channels.map((c) => new RingHostDir(c));
  for (let round = 0; round < 50; round++) {
    for (const [i, dir] of dirs.entries()) {
      const offset = BigInt(round * 3 + i);
      const data = dir.pread(1, offset, 8);
      assert.equal(data[0], Number(offset) & 0xff, `lane ${i}, round ${round}`);
    }
  }
  channels[0].call(Calls.exit, [0n, 0n]);
});

test('a host answering a thread lane with another sequence number stops the enclave', () => {
  const channels = ringWithLanes(2, 'wrong-seq-on-threads');
  assert.equal(new RingHostDir(channels[0]).pread(1, 5n, 4)[0], 5, 'lane 0 is served honestly');
  assert.throws(
    () => new RingHostDir(channels[2]).pread(1, 5n, 4),
    (e: unknown) =>
      e instanceof HostProtocolError && /answered request 1 in the slot of request 0/.test(e.message),
  );
});
