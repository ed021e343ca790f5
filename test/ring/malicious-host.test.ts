import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Calls } from '../../src/interface/calls.ts';
import { Errno, WasiError } from '../../src/interface/errno.ts';
import { HostProtocolError } from '../../src/enclave/ring/channel.ts';
import { enclaveWith, stopScriptedHosts } from './helpers/hostile-enclave.ts';

after(stopScriptedHosts);

function assertErrno(fn: () => unknown, errno: number): void {
  assert.throws(fn, (e: unknown) => e instanceof WasiError && e.errno === errno);
}

describe('host-call ring against an honest host', () => {
  it('carries reads, stats, directory listings and allowed errors', () => {
    const { dir } = enclaveWith('honest');
    const data = dir.pread(3, 100n, 70_000);
    assert.equal(data.length, 70_000);
    assert.equal(data[0], 100);
    assert.equal(data[69_999], (100 + 69_999 - 65_536) & 0xff, 'second chunk starts at its own offset');
    assert.equal(dir.lookup(0, 'x', null).stat.size, 3n);
    assert.deepEqual(
      dir.readdir(0, 0, 10).entries.map((e) => e.name),
      ['a', 'b'],
    );
    assertErrno(() => dir.unlink(0, 'missing'), Errno.NOENT);
    assert.equal(dir.open(0, 'f', { create: false, exclusive: false, truncate: false, write: false }), 7);
  });
});

describe('host-call ring against a malicious host', () => {
  it('turns a reply longer than asked for into EIO and never copies it', () => {
    const { dir } = enclaveWith('reply-too-long');
    assertErrno(() => dir.pread(3, 0n, 16), Errno.IO);
    assertErrno(() => dir.lookup(0, 'x', null).stat, Errno.IO);
  });

  it('turns a negative reply length into EIO', () => {
    const { dir } = enclaveWith('negative-length');
    assertErrno(() => dir.pread(3, 0n, 16), Errno.IO);
  });

  it('turns an errno outside the call allow-list into EIO', () => {
    const { dir } = enclaveWith('garbage-errno');
    assertErrno(() => dir.lookup(0, 'x', null).stat, Errno.IO);
    assertErrno(() => dir.unlink(0, 'x'), Errno.IO);
  });

  it('stops the enclave when the host answers a different request', () => {
    const { channel } = enclaveWith('wrong-request');
    assert.throws(() => channel.call(Calls.dirUnlink, [0n]), HostProtocolError);
  });

  it(
    'does not wait for ever for a host that broke the protocol: the last call gives up',
    { timeout: 30_000 },
    () => {
      const { channel } = enclaveWith('wrong-request-then-silent');
      assert.throws(() => channel.call(Calls.dirUnlink, [0n]), HostProtocolError);
      // The enclave's last words (its exit with the reason) go unanswered: bounded, then an error.
      assert.throws(
        () => channel.call(Calls.exit, [1n, 3n]),
        (e: unknown) => e instanceof HostProtocolError && /did not answer exit within 2 s/.test(e.message),
      );
    },
  );

  it('waits as long as it takes for an intact ring (a slow host is not an error)', () => {
    const { channel } = enclaveWith('slow');
    assertErrno(() => channel.call(Calls.dirUnlink, [0n]), Errno.NOENT);
  });

  it('rejects a malformed stat record', () => {
    const { dir } = enclaveWith('bad-stat');
    assertErrno(() => dir.lookup(0, 'x', null).stat, Errno.IO);
  });

  it('rejects directory entries that could escape a path', () => {
    const { dir } = enclaveWith('bad-dir-entry');
    assertErrno(() => dir.readdir(0, 0, 10), Errno.IO);
  });

  it('rejects an out-of-range handle and a short write', () => {
    const huge = enclaveWith('huge-handle').dir;
    assertErrno(
      () => huge.open(0, 'f', { create: false, exclusive: false, truncate: false, write: false }),
      Errno.IO,
    );
    const short = enclaveWith('short-write').dir;
    assertErrno(() => short.pwrite(1, 0n, new Uint8Array(10)), Errno.IO);
  });
});
