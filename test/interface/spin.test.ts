import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdaptiveSpin, SPIN_WINDOWS } from '../../src/interface/spin.ts';

describe('adaptive spin window', () => {
  it('starts at the longest window, so an idle machine spins through typical host work', () => {
    assert.equal(new AdaptiveSpin({ minMs: 0.01, maxMs: 0.2 }).windowMs, 0.2);
  });

  it('halves on each park down to the probe window, and doubles on each answered spin back up', () => {
    const spin = new AdaptiveSpin({ minMs: 0.01, maxMs: 0.16 });
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      spin.miss();
      seen.push(spin.windowMs);
    }
    assert.deepEqual(seen, [0.08, 0.04, 0.02, 0.01, 0.01, 0.01]);
    seen.length = 0;
    for (let i = 0; i < 6; i++) {
      spin.hit();
      seen.push(spin.windowMs);
    }
    assert.deepEqual(seen, [0.02, 0.04, 0.08, 0.16, 0.16, 0.16]);
  });

  it('follows the ratio of answered to parked waits: a slow call now and then does not stop the spin', () => {
    const spin = new AdaptiveSpin({ minMs: 0.01, maxMs: 0.16 });
    for (let i = 0; i < 100; i++) {
      if (i % 4 === 3) spin.miss();
      else spin.hit();
    }
    assert.equal(spin.windowMs, 0.08, 'one park after three answered spins leaves half the window');
    for (let i = 0; i < 100; i++) {
      if (i % 4 === 3) spin.hit();
      else spin.miss();
    }
    assert.ok(spin.windowMs <= 0.02, 'mostly parking (a loaded machine) keeps about the probe only');
  });

  it('keeps a probe on both sides, so spinning resumes once the load goes', () => {
    for (const side of [SPIN_WINDOWS.enclave, SPIN_WINDOWS.host]) {
      assert.ok(side.minMs > 0 && side.minMs < side.maxMs);
    }
  });
});
