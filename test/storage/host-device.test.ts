// The host's image file as the enclave reads it (src/enclave/blockdev/host-device.ts): each reply
// must have exactly the length asked for, and lands once, straight in the caller's buffer. The
// channel here is a stand-in for the ring (its own checks are tested in test/ring); what is under
// test is the device around it and the stack above it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readBlocks } from '../../src/common/blockdev/io.ts';
import { unlockLuks2 } from '../../src/common/blockdev/luks2.ts';
import { BlockDeviceError } from '../../src/common/blockdev/types.ts';
import { openVerity } from '../../src/common/blockdev/verity.ts';
import { HostBlockDevice } from '../../src/enclave/blockdev/host-device.ts';
import type { BatchRequest, HostChannel, Reply } from '../../src/enclave/ring/channel.ts';
import { Calls } from '../../src/interface/calls.ts';
import { SLOT_DATA_BYTES } from '../../src/interface/ring.ts';
import { pattern, shieldedImage } from './helpers/files.ts';

type Lie = 'honest' | 'short' | 'empty' | 'long';

/** A host serving `image`, lying as told; it records every buffer a reply was copied into. */
function fakeHost(image: Uint8Array) {
  const host = { lie: 'honest' as Lie, into: [] as Uint8Array[], batches: 0, lieAt: -1 };
  const channel = {
    call(spec: { id: number }): Reply {
      assert.equal(spec.id, Calls.blockInfo.id);
      return { result: BigInt(image.length), data: new Uint8Array(0) };
    },
    callMany(requests: readonly BatchRequest[]): Reply[] {
      host.batches++;
      return requests.map((r, i) => {
        if (r.spec.id === Calls.blockWrite.id) {
          const payload = r.payload ?? new Uint8Array(0);
          image.set(payload, Number(r.args[1]));
          return { result: BigInt(payload.length), data: new Uint8Array(0) };
        }
        const [, offset, length] = r.args.map(Number);
        let reply = image.subarray(offset, offset + length);
        // With `lieAt`, only that request of the batch gets the lie.
        const lying = host.lieAt < 0 || i === host.lieAt;
        if (lying && host.lie === 'short') reply = reply.subarray(1);
        if (host.lie === 'empty') reply = reply.subarray(0, 0);
        if (host.lie === 'long') {
          // The ring refuses a reply over its limit (EIO, test/ring); a channel that let one through
          // would hand over a fresh copy, never the caller's buffer.
          return { result: 0n, data: new Uint8Array(length + 1) };
        }
        // As the channel does: one copy, from the slot into `into`.
        if (r.into && reply.length > 0 && r.into.length >= reply.length) {
          r.into.set(reply);
          host.into.push(r.into);
          return { result: BigInt(reply.length), data: r.into.subarray(0, reply.length) };
        }
        return { result: BigInt(reply.length), data: reply.slice() };
      });
    },
  };
  return { host, channel: channel as unknown as HostChannel };
}

test('reads of any size arrive whole, split into slot-sized requests', () => {
  const image = pattern(5 * SLOT_DATA_BYTES, 3);
  const { host, channel } = fakeHost(image);
  const dev = new HostBlockDevice(channel, 0, 4096);
  const dst = new Uint8Array(3 * SLOT_DATA_BYTES + 8192);
  dev.readInto(4, dst);
  assert.deepEqual(dst, image.subarray(4 * 4096, 4 * 4096 + dst.length));
  assert.equal(host.into.length, 4, 'one request per slot');
  for (const into of host.into) assert.equal(into.buffer, dst.buffer, 'each reply landed in dst');
});

test('the pieces of a vectored read or write go to the host together, each reply into its place', () => {
  const image = pattern(64 * 4096, 11);
  const { host, channel } = fakeHost(image);
  const dev = new HostBlockDevice(channel, 0, 4096, true);
  const pieces = [
    { block: 40, data: new Uint8Array(4096) },
    { block: 3, data: new Uint8Array(20 * 4096) }, // two slots' worth
    { block: 60, data: new Uint8Array(4096) },
  ];
  dev.readIntoMany(pieces);
  assert.equal(host.batches, 1, 'one round trip');
  for (const p of pieces)
    assert.deepEqual(p.data, image.subarray(p.block * 4096, p.block * 4096 + p.data.length));
  assert.deepEqual(
    host.into.map((b) => b.buffer),
    [pieces[0].data.buffer, pieces[1].data.buffer, pieces[1].data.buffer, pieces[2].data.buffer],
  );

  host.lie = 'short';
  host.lieAt = 2; // the second slot of the second piece
  assert.throws(() => dev.readIntoMany(pieces), BlockDeviceError);
  host.lie = 'honest';
  host.lieAt = -1;

  host.batches = 0;
  dev.writeMany([
    { block: 1, data: pattern(4096, 12) },
    { block: 50, data: pattern(2 * 4096, 13) },
  ]);
  assert.equal(host.batches, 1);
  assert.deepEqual(image.subarray(4096, 2 * 4096), pattern(4096, 12));
  assert.deepEqual(image.subarray(50 * 4096, 52 * 4096), pattern(2 * 4096, 13));
  assert.throws(() => dev.writeMany([{ block: 63, data: new Uint8Array(8192) }]), /beyond the end/);
});

test('short, empty and oversized replies are refused', () => {
  const image = pattern(64 * 4096, 5);
  const { host, channel } = fakeHost(image);
  const dev = new HostBlockDevice(channel, 0, 4096);
  for (const lie of ['short', 'empty', 'long'] as const) {
    host.lie = lie;
    assert.throws(() => readBlocks(dev, 1, 2), BlockDeviceError, lie);
  }
  host.lie = 'honest';
  assert.deepEqual(readBlocks(dev, 1, 2), image.subarray(4096, 3 * 4096));
  assert.throws(() => dev.readInto(63, new Uint8Array(8192)), /beyond the end/);
  assert.throws(() => dev.readInto(0, new Uint8Array(100)), /whole number of blocks/);
});

test('through dm-verity and LUKS2 a host reply is copied once, into the buffer the caller reads into', () => {
  const { plain, image, rootHash, hashOffset } = shieldedImage(32, 9);

  const { host, channel } = fakeHost(image);
  const raw = new HostBlockDevice(channel, 0, 512);
  const verity = openVerity({ data: raw, rootHash, hashOffset });
  const dev = unlockLuks2(verity, 'pw');
  host.into.length = 0;
  const dst = new Uint8Array(16 * 4096);
  dev.readInto(4, dst);
  assert.deepEqual(dst, plain.subarray(4 * 4096, 20 * 4096), 'verified and decrypted in place');
  const dataReplies = host.into.filter((b) => b.buffer === dst.buffer);
  assert.equal(
    dataReplies.reduce((n, b) => n + b.length, 0),
    dst.length,
    'the data blocks came straight into dst',
  );
});
