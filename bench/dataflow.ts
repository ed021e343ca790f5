// Dataflow jobs from one run, each as ratio tables:
// 1. word count over dict-gcide: the engine sealed with executors in JS enclaves, the same engine
//    (also in enclaves) with its plaintext baseline bundle, and a plain single Node process;
// 2. word count sealed in enclaves, local[1] against local[2];
// 3. smart-grid fault detection on seeded data: the same three as 1, and local[1] against local[2];
// 4. both jobs over NATS JetStream with 1 and 2 executor processes (when nats-server is installed).
//   node --import tsx bench/dataflow.ts [--mb 4] [--customers 20000] [--repeats 3] [--executors 2]
// (--mb 0: all of dict-gcide, about 40 MB; the defaults finish in about 2 minutes on a quiet
// 2-core machine. The BENCH_MB, BENCH_CUSTOMERS, BENCH_REPEATS, BENCH_EXECUTORS variables work too.)
// Enclaves are the sim backend's (Worker threads; no hardware isolation, no EPC paging costs).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateGrid, writeGrid } from '../examples/smartgrid-data.ts';
import { frameFile } from '../src/dataflow/framing.ts';
import { runJob } from '../src/dataflow/host/run-job.ts';
import { openOutput, sealDirectory } from '../src/dataflow/owner.ts';
import { plainBlock } from '../src/dataflow/seal.ts';
import { lineBlocks } from '../src/dataflow/text-files.ts';
import { median, printTable } from './lib.ts';

const GCIDE = '/usr/share/dictd/gcide.dict.dz';
const NATS_SERVER = '/usr/sbin/nats-server';
const { values: flags } = parseArgs({
  options: {
    mb: { type: 'string', default: process.env.BENCH_MB ?? '4' },
    customers: { type: 'string', default: process.env.BENCH_CUSTOMERS ?? '20000' },
    repeats: { type: 'string', default: process.env.BENCH_REPEATS ?? '3' },
    executors: { type: 'string', default: process.env.BENCH_EXECUTORS ?? '2' },
  },
});
const count = (name: keyof typeof flags, min: number): number => {
  const n = Number(flags[name]);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: an integer of at least ${min}`);
  return n;
};
const megabytes = count('mb', 0);
const executors = count('executors', 1);
const repeats = count('repeats', 1);
const customers = count('customers', 100);
const plainScript = fileURLToPath(new URL('./dataflow-plain.mjs', import.meta.url));
const partBytes = 4 * 1024 * 1024;
const blockBytes = 1024 * 1024;
const example = (name: string): string => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-dataflow-'));
const key = randomBytes(32);
const path = (...parts: string[]): string => join(dir, ...parts);

/** Median wall times of `repeats` rounds of the runs, interleaved so that the machine's load drift hits all alike. */
async function timedEach(...runs: (() => Promise<void>)[]): Promise<number[]> {
  const times: number[][] = runs.map(() => []);
  for (let i = 0; i < repeats; i++)
    for (const [k, run] of runs.entries()) {
      const start = performance.now();
      await run();
      times[k].push(performance.now() - start);
    }
  return times.map(median);
}

const timed = async (run: () => Promise<void>): Promise<number> => (await timedEach(run))[0];

/** The same files as `data seal` makes, with plaintext-baseline blocks. */
function writePlainInputs(from: string, out: string): void {
  mkdirSync(out);
  for (const name of readdirSync(from)) {
    const lines = readFileSync(join(from, name), 'utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const blocks = lineBlocks(lines, blockBytes);
    const perPart = partBytes / blockBytes;
    const parts = Math.max(1, Math.ceil(blocks.length / perPart));
    for (let p = 0; p < parts; p++) {
      const part = blocks.slice(p * perPart, (p + 1) * perPart);
      const file = parts === 1 ? name : `${name}.${String(p).padStart(5, '0')}`;
      const blobs = part.map((b, i) => plainBlock(i, i === part.length - 1, b));
      writeFileSync(join(out, `${file}.sealed`), frameFile('00'.repeat(16), blobs));
    }
  }
}

function prepare(name: string, write: (dir: string) => void): void {
  write(path(name));
  sealDirectory(path(name), path(`${name}.sealed`), key, { partBytes, blockBytes });
  writePlainInputs(path(name), path(`${name}.plain`));
}

async function engine(
  job: string,
  input: string,
  master: string,
  args: string[],
  plaintext: boolean,
  extra = {},
): Promise<void> {
  const out = path(`out-${randomBytes(4).toString('hex')}`);
  await runJob({
    jobFile: example(job),
    master,
    jobKey: key,
    platformPath: path('sim-platform.json'),
    args: [path(input), out, ...args],
    plaintext,
    ...extra,
  });
  if (!plaintext) openOutput(out, key, { verifyManifest: true });
  rmSync(out, { recursive: true, force: true });
}

/** The job done by a plain single Node process (`dataflow-plain.mjs`), on the plaintext files. */
async function plain(...args: string[]): Promise<void> {
  const p = spawnSync(process.execPath, [plainScript, ...args], { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(p.stderr);
}

async function startNats(): Promise<{ url: string; stop: () => Promise<void> } | undefined> {
  if (!existsSync(NATS_SERVER)) return undefined;
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address() as { port: number };
      probe.close(() => resolve(p));
    });
  });
  const server = spawn(
    NATS_SERVER,
    ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', path('jetstream')],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 500));
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: () => new Promise((r) => (server.once('exit', r), server.kill('SIGTERM'))),
  };
}

try {
  const head = megabytes > 0 ? ` | head -c ${megabytes * 1024 * 1024}` : '';
  const r = spawnSync('sh', ['-c', `zcat ${GCIDE}${head}`], { maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`cannot read ${GCIDE}: apt-get install dict-gcide`);
  const text = r.stdout.toString('utf8');
  prepare('corpus', (d) => (mkdirSync(d), writeFileSync(join(d, 'gcide.txt'), text)));
  prepare('grid', (d) => writeGrid(d, generateGrid(customers, 1)));
  const local = `local[${executors}]`;
  const window = ['2024-03-01', '2024-05-31'];

  const [wcSealed, wcPlain, one] = await timedEach(
    () => engine('wordcount.ts', 'corpus.sealed', local, [], false),
    () => engine('wordcount.ts', 'corpus.plain', local, [], true),
    () => engine('wordcount.ts', 'corpus.sealed', 'local[1]', [], false),
  );
  const plainNode = await timed(async () => plain('wordcount', path('corpus', 'gcide.txt')));
  printTable(
    `word count over ${(text.length / 1024 / 1024).toFixed(1)} MB of dict-gcide, ${local}, median of ${repeats} interleaved (wall ms, incl. bundling and enclave start)`,
    ['configuration', 'ms', 'vs plaintext engine', 'vs plain node'],
    [
      ['engine, sealed (AES-256-GCM, manifest)', wcSealed, wcSealed / wcPlain, wcSealed / plainNode],
      ['engine, plaintext baseline', wcPlain, 1, wcPlain / plainNode],
      ['plain single node process', plainNode, plainNode / wcPlain, 1],
    ],
  );

  printTable(
    `word count sealed, executors in JS enclaves in one process, median of ${repeats} (wall ms)`,
    ['master', 'ms', 'speed-up vs 1'],
    [
      ['local[1]', one, 1],
      [local, wcSealed, one / wcSealed],
    ],
  );

  const [sgSealed, sgPlain, sgOne] = await timedEach(
    () => engine('smartgrid.ts', 'grid.sealed', local, window, false),
    () => engine('smartgrid.ts', 'grid.plain', local, window, true),
    () => engine('smartgrid.ts', 'grid.sealed', 'local[1]', window, false),
  );
  const sgNode = await timed(() => plain('smartgrid', path('grid'), ...window));
  printTable(
    `smart-grid fault detection, ${customers} customers and ${customers * 3} faults, ${local}, median of ${repeats} interleaved (wall ms)`,
    ['configuration', 'ms', 'vs plaintext engine', 'vs plain node'],
    [
      ['engine, sealed', sgSealed, sgSealed / sgPlain, sgSealed / sgNode],
      ['engine, plaintext baseline', sgPlain, 1, sgPlain / sgNode],
      ['plain single node process', sgNode, sgNode / sgPlain, 1],
    ],
  );
  printTable(
    `smart-grid sealed, executors in JS enclaves in one process, median of ${repeats} (wall ms)`,
    ['master', 'ms', 'speed-up vs 1'],
    [
      ['local[1]', sgOne, 1],
      [local, sgSealed, sgOne / sgSealed],
    ],
  );

  const nats = await startNats();
  if (!nats) console.log('\n(nats-server is not installed: no NATS scaling table)');
  else
    try {
      const [natsOne, two, sgNatsOne, sgTwo] = await timedEach(
        () => engine('wordcount.ts', 'corpus.sealed', nats.url, [], false, { executors: 1 }),
        () => engine('wordcount.ts', 'corpus.sealed', nats.url, [], false, { executors: 2 }),
        () => engine('smartgrid.ts', 'grid.sealed', nats.url, window, false, { executors: 1 }),
        () => engine('smartgrid.ts', 'grid.sealed', nats.url, window, false, { executors: 2 }),
      );
      printTable(
        `sealed over NATS JetStream (executor processes on this machine, one enclave each), median of ${repeats} interleaved (wall ms)`,
        ['job, executors', 'ms', 'speed-up vs 1'],
        [
          ['word count, 1', natsOne, 1],
          ['word count, 2', two, natsOne / two],
          ['smart-grid, 1', sgNatsOne, 1],
          ['smart-grid, 2', sgTwo, sgNatsOne / sgTwo],
        ],
      );
    } finally {
      await nats.stop();
    }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
