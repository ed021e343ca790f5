// speedtest1 --size 25, the same binary under Cloister (in the enclave) and under node:wasi,
// alternating runs; reports medians of speedtest1's own TOTAL and of wall time, and the ratios.
// Usage: node --import tsx bench/speedtest1.ts [--runs N] [--size N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, median, nodeWasiRunner, printTable, sharedBench, speedtestTotalMs, timeNode } from './lib.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const runs = arg('--runs', 3);
const size = String(arg('--size', 25));

interface Scenario {
  name: string;
  cloister: (dir: string) => string[];
  peer: (dir: string) => string[];
}

const program = (name: string): string => join(sharedBench, name);
const onDisk = (name: string) => (dir: string) => [
  '--dir',
  `${dir}::/data`,
  '--dir',
  `${dir}::/tmp`,
  program(name),
  '--size',
  size,
  '/data/bench.db',
];

const scenarios: Scenario[] = [
  {
    name: 'in memory (/tmp: Cloister tmpfs, node:wasi host dir)',
    cloister: () => ['--tmpfs', '/tmp', program('speedtest1.wasm'), '--size', size],
    peer: (dir) => ['--dir', `${dir}::/tmp`, program('speedtest1.wasm'), '--size', size],
  },
  {
    name: 'database and /tmp on a host directory',
    cloister: onDisk('speedtest1.wasm'),
    peer: onDisk('speedtest1.wasm'),
  },
  {
    name: 'same, nolock build',
    cloister: onDisk('speedtest1-nolock.wasm'),
    peer: onDisk('speedtest1-nolock.wasm'),
  },
  {
    name: 'Cloister: encrypted volume; node:wasi: host dir',
    cloister: (dir) => {
      const key = join(dir, 'vol.key');
      timeNode([
        cli,
        'volume',
        'create',
        join(dir, 'data.vol'),
        '--size',
        '128M',
        '--key-file',
        key,
        '--generate-key',
      ]);
      return [
        '--volume',
        `${join(dir, 'data.vol')}::/data`,
        '--volume-key-file',
        key,
        '--tmpfs',
        '/tmp',
        program('speedtest1.wasm'),
        '--size',
        size,
        '/data/bench.db',
      ];
    },
    peer: onDisk('speedtest1.wasm'),
  },
];

const rows: (string | number)[][] = [];
for (const s of scenarios) {
  const ours: { total: number; wall: number }[] = [];
  const peer: { total: number; wall: number }[] = [];
  for (let i = 0; i < runs; i++) {
    for (const [who, out] of [
      ['cloister', ours],
      ['node:wasi', peer],
    ] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'speedtest1-'));
      try {
        const t =
          who === 'cloister'
            ? timeNode([cli, 'run', ...s.cloister(dir)])
            : timeNode([nodeWasiRunner, ...s.peer(dir)]);
        out.push({ total: speedtestTotalMs(t.stdout), wall: t.wallMs });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const [ot, pt] = [median(ours.map((r) => r.total)), median(peer.map((r) => r.total))];
  const [ow, pw] = [median(ours.map((r) => r.wall)), median(peer.map((r) => r.wall))];
  rows.push([s.name, pt, ot, ot / pt, pw, ow, ow / pw]);
  process.stderr.write(`done: ${s.name}\n`);
}
printTable(
  `speedtest1 --size ${size}, median of ${runs} alternating runs (ms; ratio = Cloister / node:wasi)`,
  ['scenario', 'node:wasi TOTAL', 'Cloister TOTAL', 'ratio', 'node:wasi wall', 'Cloister wall', 'wall ratio'],
  rows,
);
