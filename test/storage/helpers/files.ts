import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { MemoryBlockDevice } from '../../../src/common/blockdev/memory.ts';
import { encryptLuks2Payload, formatLuks2 } from '../../../src/image/luks2-format.ts';
import { buildVerityTree } from '../../../src/image/verity-format.ts';

/** A temporary directory removed when the test file finishes. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-storage-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A deterministic pseudo-random byte pattern (not crypto; just distinct test data). */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A 512-byte-sector device over a file's current contents. */
export function fileDevice(path: string, blockSize = 512): MemoryBlockDevice {
  return new MemoryBlockDevice(new Uint8Array(readFileSync(path)), blockSize);
}

/**
 * A LUKS2 volume (passphrase 'pw', pbkdf2, payload at 1 MiB) under dm-verity in one image, as
 * `image build --encrypt` makes it, holding `blocks` 4 KiB blocks of `pattern(…, seed)`.
 */
export function shieldedImage(blocks: number, seed: number) {
  const plain = pattern(blocks * 4096, seed);
  const dataOffset = 1 << 20;
  const f = formatLuks2({ secret: 'pw', kdf: { type: 'pbkdf2' }, dataOffset });
  const luks = new Uint8Array(dataOffset + plain.length);
  luks.set(f.metadata);
  luks.set(encryptLuks2Payload(f, 0, plain), dataOffset);
  const tree = buildVerityTree((o, l) => luks.subarray(o, o + l), luks.length / 4096, luks.length, {});
  const image = new Uint8Array(luks.length + tree.hashArea.length);
  image.set(luks);
  image.set(tree.hashArea, luks.length);
  return { plain, image, dataOffset, rootHash: tree.rootHash, hashOffset: luks.length };
}
