import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { unlockLuks2, WrongKeyError } from '../../src/common/blockdev/luks2.ts';
import { xtsSectors } from '../../src/common/blockdev/luks2-crypto.ts';
import { formatLuks2, writeLuks2File } from '../../src/image/luks2-format.ts';
import { fileDevice, pattern, tempDir } from './helpers/files.ts';
import { requireTool, run, tryRun } from './helpers/tools.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

const dir = tempDir();
const FAST_PBKDF2 = ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000'];
const FAST_ARGON = ['--pbkdf-memory', '1024', '--pbkdf-force-iterations', '4', '--pbkdf-parallel', '1'];

/** A deterministic byte stream for reproducible images. */
function seeded(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += 32) {
      const block = createHash('sha256').update(`${seed}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - at)), at);
    }
    return out;
  };
}

function volumeKeyHex(img: string, keyFile: string): string {
  const out = run('cryptsetup', ['luksDump', '--dump-volume-key', '-q', '--key-file', keyFile, img]);
  const m = /MK dump:\s*([\s0-9a-f]+)/.exec(out);
  assert.ok(m, out);
  return m[1].replace(/\s+/g, '');
}

const formats: { name: string; args: string[]; sectorSize: number; keyBytes: number }[] = [
  { name: 'pbkdf2-sha256, 512-byte sectors', args: [...FAST_PBKDF2], sectorSize: 512, keyBytes: 64 },
  {
    name: 'pbkdf2-sha1, 4096-byte sectors',
    args: [...FAST_PBKDF2, '--hash', 'sha1'],
    sectorSize: 4096,
    keyBytes: 64,
  },
  {
    name: 'pbkdf2-sha512, aes-128-xts',
    args: [...FAST_PBKDF2, '--hash', 'sha512', '--key-size', '256'],
    sectorSize: 4096,
    keyBytes: 32,
  },
  {
    name: 'argon2id, 4096-byte sectors',
    args: ['--pbkdf', 'argon2id', ...FAST_ARGON],
    sectorSize: 4096,
    keyBytes: 64,
  },
  {
    name: 'argon2i, 512-byte sectors',
    args: ['--pbkdf', 'argon2i', ...FAST_ARGON],
    sectorSize: 512,
    keyBytes: 64,
  },
];

for (const f of formats) {
  test(`unlocks a cryptsetup luksFormat image: ${f.name}`, (t) => {
    if (!requireTool(t, 'cryptsetup')) return;
    const img = join(dir, 'fmt.img');
    const keyFile = join(dir, 'fmt.key');
    writeFileSync(keyFile, Uint8Array.of(0, 1, 2, 255, 10, 13, 0, 42));
    writeFileSync(img, new Uint8Array(20 << 20));
    const sector = ['--sector-size', String(f.sectorSize)];
    run('cryptsetup', [
      'luksFormat',
      '--type',
      'luks2',
      '-q',
      ...f.args,
      ...sector,
      '--key-file',
      keyFile,
      img,
    ]);
    const dev = unlockLuks2(fileDevice(img), readFileSync(keyFile));
    assert.equal(dev.blockSize, f.sectorSize);
    assert.equal(dev.header.uuid, run('cryptsetup', ['luksUUID', img]).trim());
    // The volume key cryptsetup recovers decrypts sector 5 (all zeros on disk) exactly as we do.
    const key = Buffer.from(volumeKeyHex(img, keyFile), 'hex');
    assert.equal(key.length, f.keyBytes);
    const step = f.sectorSize / 512;
    const expected = xtsSectors(
      false,
      key,
      f.sectorSize,
      BigInt(5 * step),
      step,
      new Uint8Array(f.sectorSize),
    );
    assert.deepEqual(readBlocks(dev, 5, 1), expected);
    assert.throws(() => unlockLuks2(fileDevice(img), 'not the key'), WrongKeyError);
  });
}

for (const sectorSize of [512, 4096]) {
  for (const kdf of [FAST_PBKDF2, ['--pbkdf', 'argon2id', ...FAST_ARGON]]) {
    test(`reads data cryptsetup reencrypt --encrypt wrote (${sectorSize}-byte sectors, ${kdf[1]})`, (t) => {
      if (!requireTool(t, 'cryptsetup')) return;
      const img = join(dir, 'enc.img');
      const plain = pattern(4 << 20, sectorSize);
      writeFileSync(img, plain);
      run(
        'cryptsetup',
        ['reencrypt', '--encrypt', '--type', 'luks2', '-q', '--reduce-device-size', '2M', ...kdf].concat([
          '--sector-size',
          String(sectorSize),
          '--key-file',
          '-',
          img,
        ]),
        'open sesame',
      );
      const dev = unlockLuks2(fileDevice(img), 'open sesame');
      assert.equal(dev.blockSize, sectorSize);
      const n = (2 << 20) / sectorSize;
      assert.deepEqual(readBlocks(dev, 0, n), plain.subarray(0, 2 << 20));
    });
  }
}

test('cryptsetup luksDump and open --test-passphrase accept our images (pbkdf2/argon2id, 512/4096, 128/256-bit keys)', (t) => {
  if (!requireTool(t, 'cryptsetup')) return;
  const input = join(dir, 'plain.img');
  writeFileSync(input, pattern(256 * 1024, 3));
  const cases = [
    { kdf: { type: 'pbkdf2' as const }, sectorSize: 512 as const, keySize: 64 as const },
    { kdf: { type: 'pbkdf2' as const, iterations: 2000 }, sectorSize: 4096 as const, keySize: 32 as const },
    {
      kdf: { type: 'argon2id' as const, time: 4, memory: 1024, cpus: 1 },
      sectorSize: 4096 as const,
      keySize: 64 as const,
    },
  ];
  for (const c of cases) {
    const img = join(dir, 'ours.img');
    const keyFile = join(dir, 'ours.key');
    const key = pattern(64, c.sectorSize + c.keySize);
    writeFileSync(keyFile, key);
    const uuid = 'b1e3c0de-0000-4000-8000-00000000cafe';
    const f = writeLuks2File(input, img, { ...c, secret: key, uuid, label: 'cloister', dataOffset: 1 << 20 });
    const dump = run('cryptsetup', ['luksDump', img]);
    assert.match(dump, new RegExp(`UUID:\\s+${uuid}`));
    assert.match(dump, /Label:\s+cloister/);
    assert.match(dump, new RegExp(`sector: ${c.sectorSize} \\[bytes\\]`));
    assert.match(dump, new RegExp(`PBKDF:\\s+${c.kdf.type}`));
    run('cryptsetup', ['open', '--test-passphrase', '--key-file', keyFile, img]);
    assert.equal(volumeKeyHex(img, keyFile), Buffer.from(f.volumeKey).toString('hex'));
    writeFileSync(keyFile, 'wrong');
    assert.notEqual(
      tryRun('cryptsetup', ['open', '--test-passphrase', '--key-file', keyFile, img]).status,
      0,
    );
    assert.deepEqual(
      readBlocks(unlockLuks2(fileDevice(img), key), 0, 1),
      pattern(256 * 1024, 3).subarray(0, c.sectorSize),
    );
  }
});

test('reads our image after cryptsetup reencrypt re-keyed it (and changed 512 to 4096-byte sectors)', (t) => {
  if (!requireTool(t, 'cryptsetup')) return;
  const input = join(dir, 'plain-rk.img');
  const plain = pattern(1 << 20, 99);
  writeFileSync(input, plain);
  const img = join(dir, 'rekey.img');
  const f = writeLuks2File(input, img, {
    secret: 'pw',
    sectorSize: 512,
    kdf: { type: 'pbkdf2' },
    dataOffset: 1 << 20,
  });
  run(
    'cryptsetup',
    [
      'reencrypt',
      '-q',
      '--force-offline-reencrypt',
      '--sector-size',
      '4096',
      ...FAST_PBKDF2,
      '--key-file',
      '-',
      img,
    ],
    'pw',
  );
  const dev = unlockLuks2(fileDevice(img), 'pw');
  assert.equal(dev.blockSize, 4096);
  assert.notDeepEqual(readFileSync(img).subarray(1 << 20, 2 << 20), readFileSync(join(dir, 'plain-rk.img')));
  assert.deepEqual(readBlocks(dev, 0, 256), plain);
  assert.notEqual(volumeKeyFrom(img), Buffer.from(f.volumeKey).toString('hex'));
});

function volumeKeyFrom(img: string): string {
  const keyFile = join(dir, 'pw.key');
  writeFileSync(keyFile, 'pw');
  return volumeKeyHex(img, keyFile);
}

test('the same inputs and random source give the same image bytes', () => {
  const opts = { secret: 'x', kdf: { type: 'pbkdf2' as const }, dataOffset: 1 << 20 };
  const a = formatLuks2({ ...opts, random: seeded('r') });
  const b = formatLuks2({ ...opts, random: seeded('r') });
  const c = formatLuks2({ ...opts, random: seeded('s') });
  assert.deepEqual(a.metadata, b.metadata);
  assert.notDeepEqual(a.metadata, c.metadata);
});

test('writes through the LUKS2 device land encrypted and read back', () => {
  const f = formatLuks2({ secret: 'w', kdf: { type: 'pbkdf2' }, dataOffset: 1 << 20, sectorSize: 4096 });
  const bytes = new Uint8Array((1 << 20) + 64 * 4096);
  bytes.set(f.metadata);
  const dev = unlockLuks2(new MemoryBlockDevice(bytes), 'w');
  const data = pattern(3 * 4096, 5);
  dev.write(10, data);
  assert.deepEqual(readBlocks(dev, 10, 3), data);
  assert.notDeepEqual(bytes.subarray((1 << 20) + 10 * 4096, (1 << 20) + 13 * 4096), data);
});

test('a LUKS1 image from cryptsetup is refused with a clear message', (t) => {
  if (!requireTool(t, 'cryptsetup')) return;
  const img = join(dir, 'luks1.img');
  writeFileSync(img, new Uint8Array(4 << 20));
  run('cryptsetup', ['luksFormat', '--type', 'luks1', '-q', ...FAST_PBKDF2, '--key-file', '-', img], 'pw');
  assert.throws(() => unlockLuks2(fileDevice(img), 'pw'), /LUKS2: unsupported version 1/);
});

test('reads data cryptsetup reencrypt --encrypt wrote with a detached header (--header)', (t) => {
  if (!requireTool(t, 'cryptsetup')) return;
  const data = join(dir, 'detached-data.img');
  const header = join(dir, 'detached-hdr.img');
  const plain = pattern(1 << 20, 77);
  writeFileSync(data, plain);
  writeFileSync(header, new Uint8Array(4 << 20));
  run(
    'cryptsetup',
    [
      'reencrypt',
      '--encrypt',
      '--type',
      'luks2',
      '-q',
      ...FAST_PBKDF2,
      '--header',
      header,
      '--key-file',
      '-',
      data,
    ],
    'pw',
  );
  const dev = unlockLuks2(fileDevice(header), 'pw', { data: fileDevice(data) });
  assert.equal(dev.segment.offset, 0);
  assert.deepEqual(readBlocks(dev, 0, dev.blockCount), plain);
  // Without the detached data device, a segment at offset 0 overlaps the header: refused.
  assert.throws(() => unlockLuks2(fileDevice(header), 'pw'), /overlaps the header/);
});
