import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errno, errnoName } from '../../src/interface/errno.ts';

describe('WASI errno table', () => {
  it('has the 77 values 0..76 of the witx enum, each once', () => {
    const values = Object.values(Errno).sort((a, b) => a - b);
    assert.deepEqual(
      values,
      Array.from({ length: 77 }, (_, i) => i),
    );
  });

  it('matches wasi-libc at the values programs check most', () => {
    assert.equal(Errno.BADF, 8);
    assert.equal(Errno.NOENT, 44);
    assert.equal(Errno.NOTSOCK, 57);
    assert.equal(Errno.PIPE, 64);
    assert.equal(Errno.ROFS, 69);
    assert.equal(Errno.SPIPE, 70);
    assert.equal(Errno.NOTCAPABLE, 76);
    assert.equal(errnoName(69), 'ROFS');
  });
});
