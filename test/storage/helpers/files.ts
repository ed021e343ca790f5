import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { MemoryBlockDevice } from '../../../src/common/blockdev/memory.ts';

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
