// speedtest1, the same binary under Cloister (in the enclave) and under node:wasi, runs of all
// scenarios interleaved (A B A B ...); reports medians of speedtest1's own TOTAL and of wall time,
// the ratios, and the goals met or not. The contended scenario is the no-lock one again
// with busy-loop processes keeping every core busy while both sides run.
// Usage: node --import tsx bench/speedtest1.ts [--runs N] [--size N] [--busy N] [--only a,b]
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  cli,
  loadNote,
  median,
  nodeWasiRunner,
  printGoals,
  printTable,
  sharedBench,
  speedtestTotalMs,
  startBusyLoops,
  timeNode,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    size: { type: 'string', default: '25' },
    busy: { type: 'string', default: String(availableParallelism()) },
    only: { type: 'string' },
  },
});
const runs = Number(values.runs);
const size = values.size;
const busy = Number(values.busy);

interface Scenario {
  key: string;
  name: string;
  /** Busy-loop processes running while both sides run. */
  busy?: number;
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

const allScenarios: Scenario[] = [
  {
    key: 'memory',
    name: 'in memory (/tmp: Cloister tmpfs, node:wasi host dir)',
    cloister: () => ['--tmpfs', '/tmp', program('speedtest1.wasm'), '--size', size],
    peer: (dir) => ['--dir', `${dir}::/tmp`, program('speedtest1.wasm'), '--size', size],
  },
  {
    key: 'hostdir',
    name: 'database and /tmp on a host directory',
    cloister: onDisk('speedtest1.wasm'),
    peer: onDisk('speedtest1.wasm'),
  },
  {
    key: 'nolock',
    name: 'same, nolock build',
    cloister: onDisk('speedtest1-nolock.wasm'),
    peer: onDisk('speedtest1-nolock.wasm'),
  },
  {
    key: 'contended',
    name: `same, nolock build, ${busy} busy loops running`,
    busy,
    cloister: onDisk('speedtest1-nolock.wasm'),
    peer: onDisk('speedtest1-nolock.wasm'),
  },
  {
    key: 'volume',
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
const only = values.only?.split(',');
const scenarios = allScenarios.filter((s) => !only || only.includes(s.key));
if (scenarios.length === 0) throw new Error(`--only takes ${allScenarios.map((s) => s.key).join(',')}`);

interface Sample {
  total: number;
  wall: number;
}
const samples = new Map(scenarios.map((s) => [s.key, { ours: [] as Sample[], peer: [] as Sample[] }]));

function runOnce(s: Scenario, who: 'cloister' | 'node:wasi'): Sample {
  const dir = mkdtempSync(join(tmpdir(), 'speedtest1-'));
  try {
    const t =
      who === 'cloister'
        ? timeNode([cli, 'run', ...s.cloister(dir)])
        : timeNode([nodeWasiRunner, ...s.peer(dir)]);
    return { total: speedtestTotalMs(t.stdout), wall: t.wallMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const loadBefore = loadNote();
for (let i = 0; i < runs; i++) {
  for (const s of scenarios) {
    const stopBusy = s.busy ? startBusyLoops(s.busy) : () => {};
    try {
      const out = samples.get(s.key)!;
      out.ours.push(runOnce(s, 'cloister'));
      out.peer.push(runOnce(s, 'node:wasi'));
    } finally {
      stopBusy();
    }
    process.stderr.write(`run ${i + 1}/${runs}: ${s.key} (${loadNote()})\n`);
  }
}

const ratios = new Map<string, { total: number; wall: number }>();
const rows = scenarios.map((s) => {
  const { ours, peer } = samples.get(s.key)!;
  const [ot, pt] = [median(ours.map((r) => r.total)), median(peer.map((r) => r.total))];
  const [ow, pw] = [median(ours.map((r) => r.wall)), median(peer.map((r) => r.wall))];
  ratios.set(s.key, { total: ot / pt, wall: ow / pw });
  return [s.name, pt, ot, ot / pt, pw, ow, ow / pw];
});
printTable(
  `speedtest1 --size ${size}, median of ${runs} interleaved runs (ms; ratio = Cloister / node:wasi); ` +
    `${loadBefore} before, ${loadNote()} after`,
  ['scenario', 'node:wasi TOTAL', 'Cloister TOTAL', 'ratio', 'node:wasi wall', 'Cloister wall', 'wall ratio'],
  rows,
);

const goals = [];
const memory = ratios.get('memory');
if (memory)
  goals.push({ measure: 'in memory, whole process (wall ratio)', value: memory.wall, atMost: 1.05 });
const nolock = ratios.get('nolock');
if (nolock)
  goals.push({ measure: 'nolock build on a --dir mount (TOTAL ratio)', value: nolock.total, atMost: 1.3 });
const contended = ratios.get('contended');
if (nolock && contended) {
  goals.push({
    measure: `same with ${busy} busy loops, ratio / quiet ratio`,
    value: contended.total / nolock.total,
    atMost: 1.5,
  });
}
const volume = ratios.get('volume');
if (volume)
  goals.push({ measure: 'encrypted volume vs host dir (TOTAL ratio)', value: volume.total, atMost: 1.0 });
printGoals('goals of issue 9', goals);
