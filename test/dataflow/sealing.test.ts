// Sealed blocks and sets: a block only opens in its own place, and a set only whole.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { shuffleDomain } from '../../src/dataflow/domains.ts';
import { IntegrityError } from '../../src/dataflow/errors.ts';
import { frameFile, parseFrames } from '../../src/dataflow/framing.ts';
import { encodeKey, hashKey } from '../../src/dataflow/keys.ts';
import { jobKeys, parseKeyFile } from '../../src/dataflow/keyring.ts';
import { openSet, plainBlock, sealSet } from '../../src/dataflow/seal.ts';

const key = randomBytes(32);
const job = 'aa'.repeat(16);
const domain = shuffleDomain(job, 'a0:s3', 1, 2, 'attempt1');
const payloads = ['one', 'two', 'three'].map((s) => Buffer.from(s));
const blobs = sealSet(key, domain, payloads);
const open = (b: Buffer[], d = domain): string[] => openSet(key, d, b).map((p) => p.toString());

describe('sealed sets', () => {
  it('open whole and in order', () => {
    assert.deepEqual(open(blobs), ['one', 'two', 'three']);
    assert.deepEqual(open(sealSet(key, domain, [])), ['']);
  });

  it('refuse a dropped, duplicated, reordered or truncated set', () => {
    assert.throws(() => open([blobs[0], blobs[2]]), IntegrityError, 'dropped middle block');
    assert.throws(() => open([blobs[0], blobs[1]]), /truncated/, 'dropped last block');
    assert.throws(
      () => open([blobs[0], blobs[1], blobs[2], blobs[2]]),
      IntegrityError,
      'duplicated last block',
    );
    assert.throws(
      () => open([blobs[0], blobs[0], blobs[1], blobs[2]]),
      IntegrityError,
      'duplicated first block',
    );
    assert.throws(() => open([blobs[1], blobs[0], blobs[2]]), IntegrityError, 'swapped');
    assert.throws(() => open([]), IntegrityError, 'empty');
  });

  it('refuse blocks replayed from another job, stage, mapper, reducer or attempt', () => {
    for (const other of [
      shuffleDomain('bb'.repeat(16), 'a0:s3', 1, 2, 'attempt1'),
      shuffleDomain(job, 'a0:s4', 1, 2, 'attempt1'),
      shuffleDomain(job, 'a1:s3', 1, 2, 'attempt1'),
      shuffleDomain(job, 'a0:s3', 0, 2, 'attempt1'),
      shuffleDomain(job, 'a0:s3', 1, 3, 'attempt1'),
      shuffleDomain(job, 'a0:s3', 1, 2, 'attempt2'),
    ])
      assert.throws(() => open(blobs, other), /does not authenticate/);
  });

  it('refuse a flipped bit anywhere, a forged last flag and a wrong key', () => {
    for (const at of [0, 4, 6, 12, 30, blobs[1].length - 1]) {
      const bad = Buffer.from(blobs[1]);
      bad[at] ^= 1;
      assert.throws(() => open([blobs[0], bad, blobs[2]]), IntegrityError, `bit at ${at}`);
    }
    const early = Buffer.from(blobs[1]);
    early[4] = 1; // claims to be the last block, so the set looks complete after two
    assert.throws(() => open([blobs[0], early]), /does not authenticate/);
    assert.throws(() => openSet(randomBytes(32), domain, blobs), /does not authenticate/);
  });

  it("refuse the plaintext benchmark baseline's blocks", () => {
    assert.throws(() => open([plainBlock(0, true, Buffer.from('one'))]), /not a sealed block/);
  });

  it('framing: truncated and hostile files fail with a clear error', () => {
    const file = frameFile(job, blobs);
    assert.equal(parseFrames(file, 'f').blobs.length, 3);
    assert.throws(() => parseFrames(file.subarray(0, file.length - 1), 'f'), /truncated/);
    assert.throws(() => parseFrames(file.subarray(0, 22), 'f'), /truncated in a block length/);
    assert.throws(() => parseFrames(Buffer.from('not sealed at all, no'), 'f'), /not a sealed dataflow file/);
    const huge = Buffer.from(file);
    huge.writeUInt32BE(0xffffffff, 20);
    assert.throws(() => parseFrames(huge, 'f'), /truncated/);
  });
});

describe('keys', () => {
  it('per-job keys differ by job and purpose; key files are 32 bytes or 64 hex digits', () => {
    const master = randomBytes(32);
    const a = jobKeys(master, job);
    assert.notDeepEqual(a.get('shuffle'), jobKeys(master, 'bb'.repeat(16)).get('shuffle'));
    assert.notDeepEqual(a.get('shuffle'), a.get('output'));
    assert.deepEqual(parseKeyFile(Buffer.from(`${master.toString('hex')}\n`)), master);
    assert.throws(() => parseKeyFile(Buffer.from('short')), /32 raw bytes or 64 hex/);
    assert.throws(() => jobKeys(master, '../x'), /bad job id/);
  });

  it('hash the canonical encoding, not object identity', () => {
    assert.equal(hashKey(['a', 1]), hashKey(['a', 1]));
    assert.equal(encodeKey(-0), encodeKey(0));
    assert.notEqual(encodeKey('1'), encodeKey(1));
    assert.notEqual(encodeKey(['a,b']), encodeKey(['a', 'b']));
    assert.equal(hashKey('the'), 238531067, 'FNV-1a of s"the": pinned, so every process partitions alike');
    assert.throws(() => encodeKey({ a: 1 }), /a key must be/);
    assert.throws(() => encodeKey(NaN), /not a finite number/);
  });
});
