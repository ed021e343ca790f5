// Deferred calls on the real ring (HostChannel.start/finish): the host answers them while the
// enclave goes on; replies reaped early because later calls needed their slots are checked then and
// kept for `finish`, and the protocol checks apply to them as to any call.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Calls } from '../../src/interface/calls.ts';
import { Errno, WasiError } from '../../src/interface/errno.ts';
import { SLOT_COUNT } from '../../src/interface/ring.ts';
import type { BatchRequest } from '../../src/enclave/ring/channel.ts';
import { enclaveWith, stopScriptedHosts } from './helpers/hostile-enclave.ts';

after(stopScriptedHosts);

/** `count` preads of 4 KiB at offsets 0, 4096, ... (the scripted host answers byte i with offset+i). */
function preads(count: number, into: Uint8Array[]): BatchRequest[] {
  return into.slice(0, count).map((buffer, i) => ({
    spec: Calls.filePread,
    args: [3n, BigInt(i * 4096), 4096n],
    replyLimit: 4096,
    into: buffer,
  }));
}

describe('deferred calls', () => {
  it('are answered while the enclave makes other calls, and come back in order into their buffers', () => {
    const { channel, dir } = enclaveWith('honest');
    const into = Array.from({ length: 6 }, () => new Uint8Array(4096));
    const batch = channel.start(preads(6, into));
    // More calls than the ring has slots: the deferred ones are reaped on the way and kept.
    for (let i = 0; i < 2 * SLOT_COUNT; i++) assert.equal(dir.lookup(0, 'x', null).stat.size, 3n);
    const replies = channel.finish(batch);
    assert.equal(replies.length, 6);
    for (const [i, reply] of replies.entries()) {
      assert.equal(reply.data.buffer, into[i].buffer, 'the reply is a view of its buffer');
      assert.equal(reply.data.length, 4096);
      assert.equal(reply.data[0], (i * 4096) & 0xff);
      assert.equal(reply.data[4095], (i * 4096 + 4095) & 0xff);
    }
  });

  it('keep an error reply for finish, not for the call that happened to reap it', () => {
    const { channel, dir } = enclaveWith('honest');
    const batch = channel.start([
      { spec: Calls.dirUnlink, args: [0n], payload: new TextEncoder().encode('gone') },
    ]);
    for (let i = 0; i < SLOT_COUNT + 2; i++) assert.equal(dir.lookup(0, 'x', null).stat.size, 3n);
    assert.throws(
      () => channel.finish(batch),
      (e: unknown) => e instanceof WasiError && e.errno === Errno.NOENT,
    );
  });

  it('give each error in its place with finishEach, reaped early or not, and every reply checked', () => {
    const { channel, dir } = enclaveWith('honest');
    const unlink = (name: string): BatchRequest => ({
      spec: Calls.dirUnlink,
      args: [0n],
      payload: new TextEncoder().encode(name),
    });
    const into = [new Uint8Array(4096)];
    const early = channel.start([unlink('gone'), ...preads(1, into)]);
    for (let i = 0; i < SLOT_COUNT + 2; i++) assert.equal(dir.lookup(0, 'x', null).stat.size, 3n);
    const late = channel.start([...preads(1, into), unlink('gone')]);
    for (const [batch, errorAt] of [
      [early, 0],
      [late, 1],
    ] as const) {
      const replies = channel.finishEach(batch);
      assert.equal(replies.length, 2);
      const error = replies[errorAt];
      assert.ok(error instanceof WasiError && error.errno === Errno.NOENT);
      const reply = replies[1 - errorAt];
      assert.ok(!(reply instanceof WasiError) && reply.data[4095] === 4095 % 256);
    }
    const { channel: lying } = enclaveWith('reply-too-long');
    const [tooLong] = lying.finishEach(lying.start(preads(1, into)));
    assert.ok(tooLong instanceof WasiError && tooLong.errno === Errno.IO);
  });

  it('turn a reply longer than asked for into EIO, whether reaped early or at finish', () => {
    const { channel } = enclaveWith('reply-too-long');
    const into = [new Uint8Array(4096)];
    const late = channel.start(preads(1, into));
    assert.throws(
      () => channel.finish(late),
      (e: unknown) => e instanceof WasiError && e.errno === Errno.IO,
    );
    const early = channel.start(preads(1, into));
    for (let i = 0; i < SLOT_COUNT; i++) channel.post(Calls.consoleWrite, [1n], new Uint8Array(1));
    assert.throws(
      () => channel.finish(early),
      (e: unknown) => e instanceof WasiError && e.errno === Errno.IO,
    );
    assert.ok(
      into[0].every((b) => b === 0),
      'nothing was copied into the buffer',
    );
  });
});
