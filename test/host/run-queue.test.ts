import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONTENDED_SHARE,
  PARK_MS,
  RunQueueWatch,
  SAMPLE_MS,
  threadRunQueueWait,
} from '../../src/host/run-queue.ts';

/** A watch over a scripted run-queue clock (ns waited so far). */
function scripted() {
  const clock = { waitedNs: 0 as number | undefined };
  return { clock, watch: new RunQueueWatch(() => clock.waitedNs) };
}

describe('run-queue watch of the host-call thread', () => {
  it('keeps spinning while the thread hardly waits for a core', () => {
    const { clock, watch } = scripted();
    for (let t = 0; t < 1000; t += 1) {
      clock.waitedNs = (t * 1e6 * CONTENDED_SHARE) / 2;
      assert.equal(watch.parkAtOnce(t), false, `at ${t} ms`);
    }
  });

  it('parks at once for a while after a sample that waited for a core, then samples again', () => {
    const { clock, watch } = scripted();
    assert.equal(watch.parkAtOnce(0), false);
    clock.waitedNs = SAMPLE_MS * 0.1 * 1e6; // 10 % of the sample spent waiting
    assert.equal(watch.parkAtOnce(SAMPLE_MS), true, 'the contended sample');
    for (const t of [SAMPLE_MS + 1, SAMPLE_MS + PARK_MS - 0.01]) assert.equal(watch.parkAtOnce(t), true);
    // The load has gone: the first sample after the park only starts an interval, the next one judges.
    const back = SAMPLE_MS + PARK_MS;
    assert.equal(watch.parkAtOnce(back), false);
    assert.equal(watch.parkAtOnce(back + SAMPLE_MS), false);
    clock.waitedNs += SAMPLE_MS * 0.5 * 1e6;
    assert.equal(watch.parkAtOnce(back + 2 * SAMPLE_MS), true, 'contended again');
  });

  it('never parks where the kernel does not report the wait', () => {
    const { clock, watch } = scripted();
    clock.waitedNs = undefined;
    for (let t = 0; t < 200; t += SAMPLE_MS) assert.equal(watch.parkAtOnce(t), false);
  });

  it("reads the calling thread's run-queue wait on Linux", () => {
    const waited = threadRunQueueWait();
    if (process.platform !== 'linux') return;
    assert.ok(Number.isSafeInteger(waited) && (waited as number) >= 0, `waited ${waited}`);
  });
});
