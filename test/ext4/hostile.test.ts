import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Errno, WasiError } from '../../src/interface/errno.ts';
import { Ext4Fs, MemoryBlockDevice, fromBlockLayer } from '../../src/enclave/ext4/index.ts';
import type { BlockDevice as LayerDevice } from '../../src/enclave/blockdev/types.ts';
import type { BlockDevice } from '../../src/enclave/ext4/index.ts';
import { debugfs, ext2fsModule, mkfs, scratchDir } from './helpers/image.ts';
import { requireTool } from './helpers/tools.ts';

const skip = requireTool('mke2fs', 'debugfs');

/** Makes a small populated image and returns its bytes. */
function image(extra: string[] = []): { bytes: Uint8Array; tmp: ReturnType<typeof scratchDir>; img: string } {
  const tmp = scratchDir();
  const root = join(tmp.path, 'root');
  mkdirSync(root);
  writeFileSync(join(root, 'a.bin'), randomBytes(200_000));
  writeFileSync(join(root, 'b.txt'), 'bee\n');
  const img = join(tmp.path, 'fs.img');
  mkfs(img, 4096, { from: root, blockSize: 4096, extra });
  return { bytes: new Uint8Array(readFileSync(img)), tmp, img };
}

function open(dev: BlockDevice, readOnly = true): Ext4Fs {
  return Ext4Fs.open(dev, { wasm: ext2fsModule, readOnly });
}

function wasiError(errno: number, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof WasiError, `not a WasiError: ${String(err)}`);
    assert.equal(err.errno, errno, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

test('a device that is not ext4 is refused with a clear error', () => {
  assert.throws(
    () => open(new MemoryBlockDevice(new Uint8Array(1 << 20))),
    wasiError(Errno.IO, /Bad magic number/),
  );
  assert.throws(
    () => open(new MemoryBlockDevice(randomBytes(1 << 20))),
    wasiError(Errno.IO, /Bad magic number/),
  );
  assert.throws(
    () => open(new MemoryBlockDevice(new Uint8Array(512), 512)),
    wasiError(Errno.IO, /beyond the device/),
  );
});

test('a corrupted superblock is refused', { skip }, () => {
  const { bytes, tmp } = image();
  try {
    const flipped = bytes.slice();
    flipped[1024 + 4] ^= 0x01; // s_blocks_count_lo: caught by the superblock checksum
    assert.throws(() => open(new MemoryBlockDevice(flipped)), wasiError(Errno.IO, /checksum/i));
    const magic = bytes.slice();
    magic[1024 + 0x38] ^= 0xff;
    assert.throws(() => open(new MemoryBlockDevice(magic)), wasiError(Errno.IO, /magic/i));
  } finally {
    tmp.dispose();
  }
});

test('an unknown incompatible feature is refused', { skip }, () => {
  const { bytes, tmp } = image(['-O', '^metadata_csum']);
  try {
    bytes[1024 + 0x60 + 3] |= 0x80; // s_feature_incompat: a bit no implementation knows
    assert.throws(() => open(new MemoryBlockDevice(bytes)), wasiError(Errno.NOTSUP, /unsupported feature/));
  } finally {
    tmp.dispose();
  }
});

test('a truncated image is refused at open', { skip }, () => {
  const { bytes, tmp } = image();
  try {
    const cut = bytes.slice(0, bytes.length / 2);
    assert.throws(() => open(new MemoryBlockDevice(cut)), wasiError(Errno.IO, /larger than its device/));
    const before = cut.slice();
    assert.throws(() => open(new MemoryBlockDevice(cut), false), wasiError(Errno.IO, /truncated image/));
    assert.deepEqual(cut, before, 'nothing was written to it');
  } finally {
    tmp.dispose();
  }
});

test('a corrupted inode is EIO on access, not wrong data', { skip }, () => {
  const { bytes, tmp, img } = image();
  try {
    const where = /located at block (\d+), offset (0x[0-9a-f]+)/.exec(debugfs(img, 'imap /b.txt'));
    assert.ok(where, 'debugfs imap');
    const at = Number(where[1]) * 4096 + Number(where[2]) + 4; // i_size_lo
    const bad = bytes.slice();
    bad[at] ^= 0x40;
    const fs = open(new MemoryBlockDevice(bad));
    assert.throws(() => fs.lookup('/b.txt'), wasiError(Errno.IO, /Inode checksum does not match/));
    const ino = fs.lookupIn(2, 'b.txt');
    assert.throws(() => fs.stat(ino), wasiError(Errno.IO, /checksum/i));
    assert.throws(() => fs.read(ino, 0, 10), wasiError(Errno.IO));
    fs.close();
  } finally {
    tmp.dispose();
  }
});

test('device errors surface as EIO carrying the device message; short reads are caught', { skip }, () => {
  const { bytes, tmp } = image();
  try {
    const mem = new MemoryBlockDevice(bytes);
    let failFrom = Infinity;
    const flaky: BlockDevice = {
      blockSize: 4096,
      sizeBytes: mem.sizeBytes,
      read(offset, length) {
        if (offset + length > failFrom)
          throw new WasiError(Errno.IO, `verity: hash mismatch at byte ${offset}`);
        return mem.read(offset, length);
      },
      write: (o, d) => mem.write(o, d),
      flush: () => {},
    };
    const fs = Ext4Fs.open(flaky, { wasm: ext2fsModule, cacheBlocks: 40, readAheadBlocks: 1 });
    const ino = fs.lookup('/a.bin');
    failFrom = 0;
    assert.throws(() => fs.read(ino, 0, 200_000), wasiError(Errno.IO, /verity: hash mismatch/));
    failFrom = Infinity;
    assert.equal(fs.read(ino, 0, 200_000).length, 200_000, 'usable again once the device recovers');
    fs.close();

    const short: BlockDevice = { ...flaky, read: (o, l) => mem.read(o, l).subarray(0, l - 1) };
    assert.throws(() => open(short), wasiError(Errno.IO, /device returned/));
  } finally {
    tmp.dispose();
  }
});

test('a read-only mount refuses every change with EROFS', { skip }, () => {
  const { bytes, tmp } = image();
  try {
    const fs = open(new MemoryBlockDevice(bytes));
    const ino = fs.lookup('/b.txt');
    assert.throws(() => fs.write(ino, 0, new Uint8Array(1)), wasiError(Errno.ROFS));
    assert.throws(() => fs.mkdir(2, 'd'), wasiError(Errno.ROFS));
    assert.throws(() => fs.unlink(2, 'b.txt'), wasiError(Errno.ROFS));
    fs.flush();
    fs.close();
    assert.throws(() => fs.stat(ino), wasiError(Errno.BADF));
  } finally {
    tmp.dispose();
  }
});

test('random corruption of metadata gives WasiErrors, never a crash', { skip }, () => {
  const { bytes, tmp } = image(['-O', '^metadata_csum']);
  try {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const outcomes = { opened: 0, refused: 0, failedLater: 0 };
    for (let round = 0; round < 60; round++) {
      const bad = bytes.slice();
      for (let k = 0; k < 8; k++) bad[1024 + rand(64 * 1024)] ^= 1 << rand(8);
      let fs: Ext4Fs | undefined;
      try {
        fs = open(new MemoryBlockDevice(bad));
      } catch (err) {
        assert.ok(err instanceof WasiError, String(err));
        outcomes.refused++;
        continue;
      }
      outcomes.opened++;
      try {
        for (const e of fs.readdir(2)) {
          if (e.name === '.' || e.name === '..') continue;
          const st = fs.stat(e.ino);
          if (st.type === 'file') fs.read(e.ino, 0, Math.min(st.size, 1 << 20));
        }
      } catch (err) {
        assert.ok(err instanceof WasiError, String(err));
        outcomes.failedLater++;
      }
      fs.close();
    }
    assert.equal(outcomes.opened + outcomes.refused, 60);
  } finally {
    tmp.dispose();
  }
});

test('opens through the block layer interface; integrity errors from below become EIO', { skip }, () => {
  const { bytes, tmp } = image();
  try {
    let tamper = false;
    const layer: LayerDevice = {
      blockSize: 4096,
      blockCount: bytes.length / 4096,
      read(block, count) {
        if (tamper) throw new Error(`dm-verity: data block ${block} does not match its hash`);
        return bytes.slice(block * 4096, (block + count) * 4096);
      },
    };
    const fs = Ext4Fs.open(fromBlockLayer(layer), { wasm: ext2fsModule });
    assert.equal(new TextDecoder().decode(fs.readFile(fs.lookup('/b.txt'))), 'bee\n');
    const a = fs.lookup('/a.bin');
    tamper = true;
    assert.throws(
      () => fs.read(a, 0, 200_000),
      wasiError(Errno.IO, /dm-verity: data block \d+ does not match/),
    );
    fs.close();
    tamper = false;
    assert.throws(
      () => Ext4Fs.open(fromBlockLayer(layer), { wasm: ext2fsModule, readOnly: false }),
      wasiError(Errno.ROFS),
    );
  } finally {
    tmp.dispose();
  }
});

test('a failing device write surfaces as EIO at the next flush', { skip }, () => {
  const { bytes, tmp } = image();
  try {
    const mem = new MemoryBlockDevice(bytes);
    let broken = false;
    const dev: BlockDevice = {
      blockSize: 4096,
      sizeBytes: mem.sizeBytes,
      read: (o, l) => mem.read(o, l),
      write(o, d) {
        if (broken) throw new WasiError(Errno.IO, 'volume: commit refused');
        mem.write(o, d);
      },
      flush: () => {},
    };
    const fs = open(dev, false);
    const ino = fs.create(2, 'new.txt');
    assert.equal(fs.write(ino, 0, new TextEncoder().encode('data')), 4);
    broken = true;
    assert.throws(() => fs.flush(), wasiError(Errno.IO, /volume: commit refused/));
    assert.throws(() => fs.close(), wasiError(Errno.IO, /volume: commit refused/));
  } finally {
    tmp.dispose();
  }
});
