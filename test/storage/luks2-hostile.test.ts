import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HDR, luks2Checksum } from '../../src/common/blockdev/luks2-header.ts';
import { unlockLuks2, WrongKeyError, readLuks2Header } from '../../src/common/blockdev/luks2.ts';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import {
  BlockDeviceError,
  FormatError,
  IntegrityError,
  type BlockDevice,
} from '../../src/common/blockdev/types.ts';
import { openVerity } from '../../src/common/blockdev/verity.ts';
import { encryptLuks2Payload, formatLuks2 } from '../../src/image/luks2-format.ts';
import { buildVerityTree } from '../../src/image/verity-format.ts';
import { pattern } from './helpers/files.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

// Tests forge arbitrary JSON shapes, so the metadata is edited untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Forged = Record<string, any>;

const HDR_SIZE = 16384;
const DATA_OFFSET = 1 << 20;
const PLAIN = pattern(64 * 4096, 8);

/** A small LUKS2 image (pbkdf2, 4 KiB sectors) holding PLAIN; built once, copied per test. */
const base = (() => {
  const f = formatLuks2({
    secret: 'pw',
    kdf: { type: 'pbkdf2' },
    dataOffset: DATA_OFFSET,
    uuid: '11111111-2222-4333-8444-555555555555',
  });
  const bytes = new Uint8Array(DATA_OFFSET + PLAIN.length);
  bytes.set(f.metadata);
  bytes.set(encryptLuks2Payload(f, 0, PLAIN), DATA_OFFSET);
  return bytes;
})();

const image = () => base.slice();
const dev = (bytes: Uint8Array) => new MemoryBlockDevice(bytes);

/** Rewrites the JSON of both header copies and recomputes their (unkeyed) checksums, as a host could. */
function forge(bytes: Uint8Array, edit: (json: Forged) => unknown, raw?: string): Uint8Array {
  for (const offset of [0, HDR_SIZE]) {
    const copy = bytes.subarray(offset, offset + HDR_SIZE);
    const area = copy.subarray(4096);
    const text = Buffer.from(area.subarray(0, area.indexOf(0))).toString();
    const json = JSON.parse(text);
    edit(json);
    area.fill(0);
    area.set(Buffer.from(raw ?? JSON.stringify(json)));
    copy.fill(0, HDR.csum, HDR.csum + 64);
    copy.set(luks2Checksum(copy), HDR.csum);
  }
  return bytes;
}

const refuses = (bytes: Uint8Array, pattern: RegExp) =>
  assert.throws(
    () => unlockLuks2(dev(bytes), 'pw'),
    (e: unknown) => e instanceof FormatError && pattern.test(e.message),
  );

test('an untouched image unlocks and decrypts', () => {
  const d = unlockLuks2(dev(image()), 'pw', { expectedUuid: '11111111-2222-4333-8444-555555555555' });
  assert.deepEqual(readBlocks(d, 0, 64), PLAIN);
});

test('a wrong passphrase is a clear error', () => {
  assert.throws(() => unlockLuks2(dev(image()), 'pW'), {
    name: 'WrongKeyError',
    message: 'LUKS2: no keyslot matches the passphrase',
  });
});

test('a flipped bit in either binary header or JSON area is refused (strict), recovered only when allowed', () => {
  for (const at of [
    HDR.seqid + 7,
    HDR.label,
    HDR.uuid + 3,
    4096 + 20,
    HDR_SIZE + 4096 + 100,
    HDR_SIZE + HDR.salt,
  ]) {
    const bytes = image();
    bytes[at] ^= 0x01;
    refuses(bytes, /header copy is invalid .*(checksum|magic)|refusing/);
    assert.deepEqual(
      readBlocks(unlockLuks2(dev(bytes), 'pw', { allowOneCopy: true }), 1, 1),
      PLAIN.subarray(4096, 8192),
    );
  }
  const both = image();
  both[4096 + 20] ^= 1;
  both[HDR_SIZE + 4096 + 20] ^= 1;
  assert.throws(() => readLuks2Header(dev(both), { allowOneCopy: true }), /checksum; no valid secondary/);
});

test('header copies that are each valid but disagree are refused', () => {
  const bytes = image();
  const copy = bytes.subarray(HDR_SIZE, 2 * HDR_SIZE);
  new DataView(copy.buffer, copy.byteOffset).setBigUint64(HDR.seqid, 2n, false);
  copy.fill(0, HDR.csum, HDR.csum + 64);
  copy.set(luks2Checksum(copy), HDR.csum);
  refuses(bytes, /disagree/);
  assert.equal(readLuks2Header(dev(bytes), { allowOneCopy: true }).seqid, 2n);
});

test('not LUKS2: zeros, LUKS1 version, wrong header size, truncated', () => {
  refuses(new Uint8Array(DATA_OFFSET), /bad magic/);
  const v1 = image();
  v1[7] = 1;
  v1[HDR_SIZE + 7] = 1;
  refuses(v1, /unsupported version 1/);
  assert.throws(() => unlockLuks2(dev(v1), 'pw', { allowOneCopy: true }), /unsupported version 1/);
  refuses(image().subarray(0, 2048), /too small/);
  refuses(image().subarray(0, HDR_SIZE + 8192), /truncated|invalid/);
  refuses(image().subarray(0, DATA_OFFSET), /segment is truncated/);
});

test('oversized or unterminated header fields are refused', () => {
  const huge = image();
  new DataView(huge.buffer).setBigUint64(HDR.hdrSize, 1n << 40n, false);
  refuses(huge, /primary header copy is invalid \(LUKS2: invalid header size 1099511627776\)/);
  // The secondary copy is still found where LUKS2 allows it, as cryptsetup would.
  assert.equal(readLuks2Header(dev(huge), { allowOneCopy: true }).hdrSize, HDR_SIZE);
  const big = image();
  new DataView(big.buffer).setBigUint64(HDR.hdrSize, 4n << 20n, false);
  refuses(big, /invalid|truncated/);
  const unterminated = forge(image(), () => {}, 'x'.repeat(HDR_SIZE - 4096));
  refuses(unterminated, /JSON area is not NUL-terminated/);
  const uuid = image();
  uuid.fill(0x41, HDR.uuid, HDR.uuid + 40);
  uuid.fill(0x41, HDR_SIZE + HDR.uuid, HDR_SIZE + HDR.uuid + 40);
  refuses(
    forge(uuid, () => {}),
    /UUID is not NUL-terminated/,
  );
  const label = image();
  label.fill(0xff, HDR.label, HDR.label + 10);
  label.fill(0xff, HDR_SIZE + HDR.label, HDR_SIZE + HDR.label + 10);
  refuses(
    forge(label, () => {}),
    /label is not valid UTF-8/,
  );
});

test('an unexpected UUID is refused', () => {
  assert.throws(
    () => unlockLuks2(dev(image()), 'pw', { expectedUuid: '11111111-2222-4333-8444-555555555556' }),
    /UUID/,
  );
});

test('forged JSON with wrong types, huge numbers, bad references is refused before any KDF runs', () => {
  const cases: [(j: Forged) => unknown, RegExp][] = [
    [(j) => (j.keyslots['0'].key_size = '64'), /keyslots\.0\.key_size must be an integer/],
    [(j) => (j.keyslots['0'].area.offset = 32768), /area\.offset must be a string/],
    [(j) => (j.keyslots['0'].area.offset = '99999999999999999999'), /too large/],
    [(j) => (j.keyslots['0'].area.offset = '-1'), /decimal uint64/],
    [(j) => (j.keyslots['0'].area.offset = '0'), /outside the keyslots area/],
    [(j) => (j.keyslots['0'].area.size = '9000000000'), /outside the keyslots area/],
    [(j) => (j.keyslots['0'].kdf.iterations = 2 ** 40), /iterations is out of range/],
    [(j) => (j.keyslots['0'].kdf.iterations = 1.5), /iterations must be an integer/],
    [
      (j) =>
        (j.keyslots['0'].kdf = { type: 'argon2id', time: 4, memory: 2 ** 31, cpus: 1, salt: 'AAAAAAAAAAA=' }),
      /memory is out of range/,
    ],
    [(j) => (j.keyslots['0'].kdf.type = 'scrypt'), /unsupported KDF/],
    [(j) => (j.keyslots['0'].kdf.salt = 'not base64!'), /not base64/],
    [(j) => (j.keyslots['0'].af.stripes = 1e9), /stripes is out of range/],
    [(j) => (j.keyslots['0'].type = 'luks3'), /unsupported/],
    [(j) => (j.keyslots['0'].area.encryption = 'cipher_null-ecb'), /unsupported cipher/],
    [(j) => (j.keyslots['abc'] = j.keyslots['0']), /invalid id 'abc'/],
    [(j) => (j.segments['0'].sector_size = 1000), /power of two/],
    [(j) => (j.segments['0'].sector_size = 8192), /out of range/],
    [(j) => (j.segments['0'].offset = '4096'), /overlaps the header/],
    [(j) => (j.segments['0'].integrity = { type: 'hmac' }), /dm-integrity/],
    [(j) => (j.segments['0'].encryption = 'aes-cbc-essiv:sha256'), /unsupported cipher/],
    [(j) => (j.segments['1'] = { ...j.segments['0'] }), /exactly one data segment/],
    [(j) => (j.digests['0'].keyslots = ['7']), /unknown id '7'/],
    [(j) => (j.digests['0'].hash = 'md5'), /unsupported hash 'md5'/],
    [(j) => (j.digests['0'] = null), /must be an object/],
    [(j) => delete j.digests['0'], /no digest covers/],
    [(j) => (j.config.json_size = '4096'), /json_size does not match/],
    [(j) => (j.config.requirements = { mandatory: ['online-reencrypt-v2'] }), /reencryption is in progress/],
    [
      (j) => (j.config.requirements = { mandatory: ['x-future'] }),
      /unsupported mandatory requirement 'x-future'/,
    ],
    [(j) => delete j.config, /config must be an object/],
  ];
  for (const [edit, pattern] of cases) refuses(forge(image(), edit), pattern);
  refuses(
    forge(image(), () => {}, '{"keyslots": ['),
    /does not parse/,
  );
  refuses(
    forge(image(), () => {}, '[]'),
    /must be an object/,
  );
});

test('an argon2 keyslot asking for more memory than allowed is refused, not run', () => {
  const bytes = forge(image(), (j) => {
    j.keyslots['0'].kdf = {
      type: 'argon2id',
      time: 1,
      memory: 4 * 1024 * 1024,
      cpus: 1,
      salt: 'AAAAAAAAAAA=',
    };
  });
  refuses(bytes, /needs 4194304 KiB of KDF memory/);
});

test('a forged digest, or a flipped bit in the keyslot area, unlocks nothing', () => {
  const forged = forge(image(), (j) => (j.digests['0'].digest = Buffer.alloc(32, 1).toString('base64')));
  assert.throws(() => unlockLuks2(dev(forged), 'pw'), WrongKeyError);
  const area = image();
  area[2 * HDR_SIZE + 1000] ^= 0x40;
  assert.throws(() => unlockLuks2(dev(area), 'pw'), WrongKeyError);
});

/** Fails its reads as the host device does on a short reply (test/storage/host-device.test.ts). */
class FailingDevice extends MemoryBlockDevice {
  failing = false;
  override readInto(block: number, dst: Uint8Array): void {
    if (this.failing) throw new BlockDeviceError('device 0: host returned 4095 of 4096 bytes');
    super.readInto(block, dst);
  }
}

test('a device that fails its reads fails the unlock and every read, with its error', () => {
  const d = new FailingDevice(image());
  const luks = unlockLuks2(d, 'pw');
  d.failing = true;
  assert.throws(() => readBlocks(luks, 0, 1), /host returned 4095 of 4096/);
  assert.throws(() => unlockLuks2(d, 'pw'), FormatError);
});

test('LUKS2 under dm-verity: any ciphertext or header tampering is an integrity error', () => {
  const luks = image();
  const tree = buildVerityTree((o, l) => luks.subarray(o, o + l), luks.length / 4096, luks.length, {});
  const full = new Uint8Array(luks.length + tree.hashArea.length);
  full.set(luks);
  full.set(tree.hashArea, luks.length);
  const open = (bytes: Uint8Array): BlockDevice =>
    openVerity({
      data: dev(bytes),
      rootHash: tree.rootHash,
      hashOffset: luks.length,
      expect: { dataBlocks: luks.length / 4096 },
    });
  // The verity device ends where the data ends, so LUKS2's dynamic segment does not reach the tree.
  assert.deepEqual(readBlocks(unlockLuks2(open(full), 'pw'), 0, 64), PLAIN);

  const data = full.slice();
  data[DATA_OFFSET + 5 * 4096 + 9] ^= 4; // XTS alone would return garbled plaintext here
  const d = unlockLuks2(open(data), 'pw');
  assert.throws(
    () => readBlocks(d, 5, 1),
    (e: unknown) => e instanceof IntegrityError && e.block === DATA_OFFSET / 4096 + 5,
  );
  assert.deepEqual(readBlocks(d, 6, 1), PLAIN.subarray(6 * 4096, 7 * 4096));

  const header = full.slice();
  header[4096 + 30] ^= 1;
  assert.throws(() => unlockLuks2(open(header), 'pw', { allowOneCopy: true }), IntegrityError);
});
