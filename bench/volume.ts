// Writable volume throughput (AES-256-GCM per 4 KiB block, Merkle metadata, shadow-paged commits) on an
// in-memory device, against the AEAD ceiling of one core measured in the same run.
// Run: node --import tsx bench/volume.ts [MiB] [flushEvery]
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { MemoryBlockDevice } from '../src/common/blockdev/memory.ts';
import { Geometry, UNIT } from '../src/common/volume/layout.ts';
import { formatVolume, openVolume } from '../src/common/volume/volume.ts';
import { printTable } from './lib.ts';
import { readBlocks } from '../src/common/blockdev/io.ts';

const MIB = Number(process.argv[2] ?? 32);
const FLUSH_EVERY = Number(process.argv[3] ?? 64);
const blocks = (MIB << 20) / UNIT;
const key = randomBytes(32);
const payload = randomBytes(UNIT);
/** The volume binds 32 bytes of associated data (UUID, block, version); the ceiling does too. */
const aad = randomBytes(32);

/** MiB/s of one run of `f` over `n` blocks. */
function rate(n: number, f: () => void): number {
  const t = performance.now();
  f();
  return (n * UNIT) / (1 << 20) / ((performance.now() - t) / 1000);
}

function sealCeiling(n: number): number {
  const nonce = Buffer.alloc(12);
  return rate(n, () => {
    for (let i = 0; i < n; i++) {
      nonce.writeUInt32BE(i, 8);
      const c = createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(aad);
      c.update(payload);
      c.final();
      c.getAuthTag();
    }
  });
}

function openCeiling(n: number): number {
  const nonce = Buffer.alloc(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const ct = c.update(payload);
  c.final();
  const tag = c.getAuthTag();
  return rate(n, () => {
    for (let i = 0; i < n; i++) {
      const d = createDecipheriv('aes-256-gcm', key, nonce);
      d.setAAD(aad);
      d.setAuthTag(tag);
      d.update(ct);
      d.final();
    }
  });
}

const order = Array.from({ length: blocks }, (_, i) => i);
const shuffled = [...order];
for (let i = shuffled.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1));
  [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
}

const dev = new MemoryBlockDevice(new Uint8Array(new Geometry(blocks).totalUnits * UNIT), UNIT);
const vol = formatVolume(dev, key, { logicalBlocks: blocks });
const writes = (seq: number[]) => () => {
  for (let i = 0; i < seq.length; i++) {
    vol.write(seq[i], payload);
    if ((i + 1) % FLUSH_EVERY === 0) vol.flush();
  }
  vol.flush();
};
const reads = (seq: number[]) => () => {
  for (const b of seq) readBlocks(vol, b, 1);
};

// Rounds interleave every measurement, so load from neighbours hits them alike; the best of each
// is kept (the first round also warms the JIT).
const cases: Record<string, () => number> = {
  seal: () => sealCeiling(blocks),
  open: () => openCeiling(blocks),
  seqWrite: () => rate(blocks, writes(order)),
  randWrite: () => rate(blocks, writes(shuffled)),
  seqRead: () => rate(blocks, reads(order)),
  randRead: () => rate(blocks, reads(shuffled)),
};
const best: Record<string, number> = {};
for (let round = 0; round < 5; round++)
  for (const [name, f] of Object.entries(cases)) best[name] = Math.max(best[name] ?? 0, f());
const { seal, open, seqWrite, randWrite, seqRead, randRead } = best;
const t = performance.now();
openVolume(dev, key);
const openMs = performance.now() - t;

printTable(
  `Volume, ${MIB} MiB on a MemoryBlockDevice, 4 KiB operations, flush every ${FLUSH_EVERY} writes`,
  ['access', 'MiB/s', 'of the AEAD ceiling'],
  [
    ['AES-256-GCM seal 4 KiB (ceiling)', seal, '1.00'],
    ['AES-256-GCM open 4 KiB (ceiling)', open, '1.00'],
    ['sequential write', seqWrite, (seqWrite / seal).toFixed(2)],
    ['random write', randWrite, (randWrite / seal).toFixed(2)],
    ['sequential read', seqRead, (seqRead / open).toFixed(2)],
    ['random read', randRead, (randRead / open).toFixed(2)],
  ],
);
console.log(`open (superblocks + whole metadata tree verified): ${openMs.toFixed(1)} ms`);
