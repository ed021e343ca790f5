// Threads inside the enclave: a parallel hash of a buffer (test/threads/programs.ts) under
// `cloister run` with 1 and 2 threads, against the same program on plain Node workers (the
// machine's own parallel ceiling at that moment), and the host calls a lock-heavy program makes.
//   node --import tsx bench/threads.ts [--words N] [--rounds N] [--runs N]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import {
  assemble,
  lockCounterWat,
  parallelHashPages,
  parallelHashWat,
  runOpenStdin,
  tempDir,
} from '../test/threads/programs.ts';
import { median, printTable } from './lib.ts';

const { values } = parseArgs({
  options: {
    words: { type: 'string', default: String(4 << 20) },
    rounds: { type: 'string', default: '48' },
    runs: { type: 'string', default: '5' },
  },
});
const words = Number(values.words);
const rounds = Number(values.rounds);
const runs = Number(values.runs);

async function timedRun(path: string): Promise<{ ms: number; stdout: string }> {
  const start = performance.now();
  const result = await runOpenStdin([path], 600_000);
  const ms = performance.now() - start;
  if (result.code !== 0) throw new Error(`${path} exited ${result.code}: ${result.stderr}`);
  return { ms, stdout: result.stdout };
}

const nodeRunner = fileURLToPath(new URL('./threads-node-runner.mjs', import.meta.url));

function timedNodeRun(path: string): { ms: number; stdout: string } {
  const start = performance.now();
  const r = spawnSync(
    process.execPath,
    ['--no-liftoff', nodeRunner, path, String(parallelHashPages(words))],
    {
      encoding: 'utf8',
    },
  );
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`plain Node run of ${path} exited ${r.status}: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

function hostCalls(stderr: string): number {
  const match = /(\d+) host calls/.exec(stderr);
  if (!match) throw new Error(`no --trace-host table in: ${stderr}`);
  return Number(match[1]);
}

const dir = tempDir();
try {
  const programs = {
    1: await assemble(dir.path, 'hash-1', parallelHashWat(1, words, rounds)),
    2: await assemble(dir.path, 'hash-2', parallelHashWat(2, words, rounds)),
  };
  // Start-up (enclave, kernel, thread workers) measured with the same programs on a tiny buffer.
  const startup = {
    1: await assemble(dir.path, 'tiny-1', parallelHashWat(1, 1024, 1)),
    2: await assemble(dir.path, 'tiny-2', parallelHashWat(2, 1024, 1)),
  };
  const wall: Record<1 | 2, number[]> = { 1: [], 2: [] };
  const idle: Record<1 | 2, number[]> = { 1: [], 2: [] };
  const plain: Record<1 | 2, number[]> = { 1: [], 2: [] };
  const outputs = new Set<string>();
  for (let i = 0; i < runs; i++) {
    for (const t of [1, 2] as const) {
      const run = await timedRun(programs[t]);
      wall[t].push(run.ms);
      outputs.add(run.stdout);
      idle[t].push((await timedRun(startup[t])).ms);
      const node = timedNodeRun(programs[t]);
      plain[t].push(node.ms);
      outputs.add(node.stdout);
    }
  }
  if (outputs.size !== 1) throw new Error(`the thread counts disagree: ${[...outputs].join(' ')}`);
  const work = (t: 1 | 2): number => median(wall[t]) - median(idle[t]);
  printTable(
    `parallel hash of ${(words * 4) / 2 ** 20} MiB, ${rounds} rounds a word (medians of ${runs}; ${cpus().length} CPUs; output ${[...outputs][0].trim()})`,
    [
      'threads',
      'wall ms',
      'start-up ms',
      'work ms',
      'speed-up (work)',
      'speed-up (wall)',
      'plain Node ms',
      'plain Node speed-up',
    ],
    ([1, 2] as const).map((t) => [
      String(t),
      median(wall[t]),
      median(idle[t]),
      work(t),
      `${(work(1) / work(t)).toFixed(2)}x`,
      `${(median(wall[1]) / median(wall[t])).toFixed(2)}x`,
      median(plain[t]),
      `${(median(plain[1]) / median(plain[t])).toFixed(2)}x`,
    ]),
  );

  const rows: (string | number)[][] = [];
  for (const lockRounds of [10, 100_000]) {
    const path = await assemble(dir.path, `lock-${lockRounds}`, lockCounterWat(4, lockRounds));
    const result = await runOpenStdin(['--trace-host', path], 600_000);
    if (result.code !== 0) throw new Error(`lock program exited ${result.code}: ${result.stderr}`);
    rows.push([String(4 * lockRounds), String(hostCalls(result.stderr))]);
  }
  printTable(
    '4 threads taking one lock (memory.atomic.wait/notify when contended): host calls of the whole run',
    ['lock acquisitions', 'host calls'],
    rows,
  );
} finally {
  dir.remove();
}
