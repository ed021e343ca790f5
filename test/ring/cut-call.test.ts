/**
 * A stack overflow in a program's import can cut a host call off anywhere in the enclave's end of
 * the ring. Cut while its request is written, the request is never submitted; the host serves
 * requests in order and would wait for it for good, and every later call with it (the run hung).
 * Cut while it waits, its reply is still owed. Either way the next calls must be answered.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Calls } from '../../src/interface/calls.ts';
import { createRingBuffer, SlotField, SlotState, viewRing, type RingView } from '../../src/interface/ring.ts';
import { HostChannel } from '../../src/enclave/ring/channel.ts';
import { RingHostDir } from '../../src/enclave/ring/host-services.ts';
import { startTsWorker } from '../helpers/ts-worker.ts';

const workers: Worker[] = [];
after(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
});

function enclave(mode: 'honest' | 'slow'): { ring: RingView; channel: HostChannel } {
  const buffer = createRingBuffer();
  workers.push(
    startTsWorker(new URL('./helpers/scripted-host.ts', import.meta.url), {
      workerData: { ring: buffer, mode },
    }),
  );
  const ring = viewRing(buffer);
  return { ring, channel: new HostChannel(ring) };
}

const overflow = (): RangeError => new RangeError('Maximum call stack size exceeded');

/** Waits at most 10 s for slot `index` to be answered (never blocks for good, as a hung ring would). */
function answeredSoon(ring: RingView, index: number): boolean {
  const h = ring.slots[index].header;
  const deadline = Date.now() + 10_000;
  while (Atomics.load(h, SlotField.state) !== SlotState.DONE && Date.now() < deadline) {
    Atomics.wait(h, SlotField.state, Atomics.load(h, SlotField.state), 50);
  }
  return Atomics.load(h, SlotField.state) === SlotState.DONE;
}

describe('a host call cut off by a stack overflow', () => {
  it('while its request is written: the next call takes its slot and number, and the ring goes on', () => {
    const { ring, channel } = enclave('honest');
    const args = [0n];
    Object.defineProperty(args, 1, {
      get: () => {
        throw overflow();
      },
    });
    assert.throws(() => channel.call(Calls.clockSync, args), RangeError);
    channel.post(Calls.clockSync, [0n]);
    assert.ok(answeredSoon(ring, 0), 'the host never saw the next request: it waits for the cut one');
    for (let i = 0; i < 40; i++) channel.call(Calls.clockSync, [0n]);
  });

  it('while it waits for its reply: the reply is reaped in turn and later calls are answered', () => {
    const { channel } = enclave('slow');
    const dir = new RingHostDir(channel);
    const now = performance.now.bind(performance);
    let cut = false;
    // The slow host answers unlink after 3 s, so the enclave's wait reads the clock: cut it there.
    performance.now = () => {
      if (!cut) {
        cut = true;
        throw overflow();
      }
      return now();
    };
    try {
      assert.throws(() => dir.unlink(0, 'missing'), RangeError);
    } finally {
      performance.now = now;
    }
    assert.ok(cut);
    for (let i = 0; i < 40; i++) assert.equal(dir.lookup(0, 'x', null).stat.size, 3n);
    channel.drain();
  });
});
