// 4 KiB reads of a large file on a dm-verity + LUKS2 image inside the enclave (sequential cold,
// random, warm), against the single-core ceiling of the same crypto measured in this script
// (SHA-256 + AES-256-XTS of 4 KiB blocks in a tight loop), and the same reader under node:wasi on
// the plain file. With --vs OTHER/dist/cli.js the same image is read by another build too, runs
// interleaved (A B A B ...) so that a busy machine slows both alike; --runs N takes medians.
// Usage: node --import tsx bench/disk.ts [--mib 256] [--runs 1] [--vs ../base/dist/cli.js]
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wabtFactory from 'wabt';
import { cli, median, nodeWasiRunner, printTable, timeNode } from './lib.ts';

const option = (name: string): string | undefined => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const mib = Number(option('--mib') ?? 256);
const runs = Number(option('--runs') ?? 1);
const vs = option('--vs');
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

const readWith = (which: string) =>
  phases(timeNode([which, 'run', image, '--key-file', key, '--', '/readbench.wasm']).stdout);
const insideRuns: ReturnType<typeof phases>[] = [];
const baseRuns: ReturnType<typeof phases>[] = [];
for (let i = 0; i < runs; i++) {
  process.stderr.write(`reading inside the enclave (run ${i + 1} of ${runs})...\n`);
  insideRuns.push(readWith(cli));
  if (vs) baseRuns.push(readWith(vs));
}
const medianPhases = (all: ReturnType<typeof phases>[]) => ({
  seq: median(all.map((p) => p.seq)),
  rand: median(all.map((p) => p.rand)),
  warm: median(all.map((p) => p.warm)),
  blocks: all[0].blocks,
});
const inside = medianPhases(insideRuns);
const base = vs ? medianPhases(baseRuns) : undefined;
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
const row = (
  name: string,
  blocks: number,
  pick: (p: ReturnType<typeof phases>) => number,
  peerMiB: number,
) => {
  const ours = mibPerS(blocks, pick(inside));
  const cells: (string | number)[] = [name, ours, ours / ceiling, peerMiB.toFixed(1)];
  if (base) {
    const theirs = mibPerS(blocks, pick(base));
    cells.push(theirs, theirs / ceiling, ours / theirs);
  }
  return cells;
};
printTable(
  `4 KiB reads of a ${mib} MiB file, MiB/s, median of ${runs} run(s) (crypto ceiling: SHA-256 + AES-256-XTS per block on one core)`,
  [
    'reads',
    'Cloister: verity + LUKS2 in the enclave',
    'of ceiling',
    'node:wasi, plain host file',
    ...(base ? ['--vs build', 'of ceiling', 'this / --vs'] : []),
  ],
  [
    ['crypto ceiling', ceiling, 1, '', ...(base ? [ceiling, 1, 1] : [])],
    row('sequential, cold', inside.blocks, (p) => p.seq, mibPerS(peer.blocks, peer.seq)),
    row('random, cold', inside.blocks, (p) => p.rand, mibPerS(peer.blocks, peer.rand)),
    row('warm (2 MiB, cached)', warmBlocks, (p) => p.warm, mibPerS(warmBlocks, peer.warm)),
  ],
);
rmSync(work, { recursive: true, force: true });
