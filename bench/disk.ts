// 4 KiB reads of a large file on a dm-verity + LUKS2 image inside the enclave (sequential cold,
// random, warm), against the single-core ceiling of the same crypto measured in this script
// (SHA-256 + AES-256-XTS of 4 KiB blocks in a tight loop), and the same reader under node:wasi on
// the plain file. Usage: node --import tsx bench/disk.ts [--mib 256]
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wabtFactory from 'wabt';
import { cli, nodeWasiRunner, printTable, timeNode } from './lib.ts';

const mibArg = process.argv.indexOf('--mib');
const mib = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 256;
const work = join(tmpdir(), `cloister-bench-disk-${process.pid}`);
const rootfs = join(work, 'rootfs');
mkdirSync(rootfs, { recursive: true });

const wabt = await wabtFactory();
const wat = readFileSync(new URL('./programs/readbench.wat', import.meta.url), 'utf8');
writeFileSync(join(rootfs, 'readbench.wasm'), wabt.parseWat('readbench.wat', wat).toBinary({}).buffer);
const big = join(rootfs, 'big.bin');
writeFileSync(big, randomBytes(mib * 1024 * 1024));
const key = join(work, 'disk.key');
writeFileSync(key, randomBytes(32));
const image = join(work, 'app.img');
process.stderr.write(`building a ${mib} MiB encrypted image...\n`);
timeNode([cli, 'image', 'build', '--from', rootfs, '-o', image, '--encrypt', '--key-file', key]);

function phases(stdout: string): { seq: number; rand: number; warm: number; blocks: number } {
  const [seq, rand, warm, blocks] = stdout.trim().split('\n').map(Number);
  return { seq, rand, warm, blocks };
}
const mibPerS = (blocks: number, ns: number): number => (blocks * 4096) / (1024 * 1024) / (ns / 1e9);

process.stderr.write('reading inside the enclave...\n');
const inside = phases(timeNode([cli, 'run', image, '--key-file', key, '--', '/readbench.wasm']).stdout);
process.stderr.write('reading under node:wasi...\n');
const peer = phases(
  timeNode([nodeWasiRunner, '--dir', `${rootfs}::/`, join(rootfs, 'readbench.wasm')]).stdout,
);

// The ceiling: what one core does with the same primitives per 4 KiB block.
const blocks = 16384;
const salt = randomBytes(32);
const xtsKey = randomBytes(64);
const cipherBlocks = createCipheriv('aes-256-xts', xtsKey, Buffer.alloc(16)).update(randomBytes(4096));
const iv = Buffer.alloc(16);
const t0 = process.hrtime.bigint();
for (let i = 0; i < blocks; i++) {
  createHash('sha256').update(salt).update(cipherBlocks).digest();
  iv.writeUInt32LE(i * 8, 0);
  createDecipheriv('aes-256-xts', xtsKey, iv).update(cipherBlocks);
}
const ceiling = mibPerS(blocks, Number(process.hrtime.bigint() - t0));

const warmBlocks = 512 * 16;
printTable(
  `4 KiB reads of a ${mib} MiB file, MiB/s (crypto ceiling: SHA-256 + AES-256-XTS per block on one core)`,
  ['reads', 'Cloister: verity + LUKS2 in the enclave', 'of ceiling', 'node:wasi, plain host file'],
  [
    ['crypto ceiling', ceiling, 1, ''],
    [
      'sequential, cold',
      mibPerS(inside.blocks, inside.seq),
      mibPerS(inside.blocks, inside.seq) / ceiling,
      mibPerS(peer.blocks, peer.seq).toFixed(1),
    ],
    [
      'random, cold',
      mibPerS(inside.blocks, inside.rand),
      mibPerS(inside.blocks, inside.rand) / ceiling,
      mibPerS(peer.blocks, peer.rand).toFixed(1),
    ],
    [
      'warm (2 MiB, cached)',
      mibPerS(warmBlocks, inside.warm),
      mibPerS(warmBlocks, inside.warm) / ceiling,
      mibPerS(warmBlocks, peer.warm).toFixed(1),
    ],
  ],
);
rmSync(work, { recursive: true, force: true });
