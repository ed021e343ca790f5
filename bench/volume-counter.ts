// The cost of rollback protection: SQLite on an encrypted volume under `cloister run`, without and
// with the key broker's counter (`--kbs URL --kbs-key K`: every volume commit advances a counter at
// `cloister kbs serve` on loopback, a signed round trip through the host's relay, written durably by
// the broker before it answers). speedtest1 and a loop of single-row autocommit INSERTs, each run on
// a fresh volume, alternating; medians. "advances" is the number of volume commits the run recorded.
// Usage: node --import tsx bench/volume-counter.ts [--runs N] [--size N] [--inserts N]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSuperblock } from '../src/common/volume/superblock.ts';
import { cli, median, printTable, sharedBench, speedtestTotalMs } from './lib.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const runs = arg('--runs', 3);
const size = String(arg('--size', 10));
const inserts = arg('--inserts', 200);

const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-counter-'));
const env = { ...process.env, CLOISTER_SIM_PLATFORM: join(dir, 'platform.json') };
const node = (args: string[], input?: string) => {
  const start = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env, input, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: exit ${r.status}: ${r.stderr.slice(-400)}`);
  return { wallMs: performance.now() - start, stdout: r.stdout };
};

const generation = (volume: string): number => {
  const raw = readFileSync(volume);
  return Math.max(
    ...[0, 1].map((u) => parseSuperblock(raw.subarray(u * 4096, (u + 1) * 4096))?.generation ?? 0),
  );
};

node([cli, 'kbs', 'public-key', '--db', join(dir, 'kbs.sqlite'), '-o', join(dir, 'broker.jwk')]);
node([cli, 'attest', 'collateral', '-o', join(dir, 'coll.json')]);
// Unsigned sim enclaves (MRSIGNER 0): each run has a fresh volume, hence its own MRENCLAVE.
writeFileSync(join(dir, 'policy.json'), JSON.stringify({ mrsigner: ['00'.repeat(32)] }));
const port = 20000 + Math.floor(Math.random() * 20000);
const server = spawn(
  process.execPath,
  [cli, 'kbs', 'serve', '--db', join(dir, 'kbs.sqlite'), '--policy', join(dir, 'policy.json')].concat([
    '--trust-sim-root',
    '--port',
    String(port),
  ]),
  { env, stdio: ['ignore', 'ignore', 'pipe'] },
);
await new Promise<void>((resolve, reject) => {
  let log = '';
  server.stderr.on('data', (d: Buffer) => (log += d.toString()) && log.includes('listening') && resolve());
  server.on('exit', (code) => reject(new Error(`kbs exited ${code}: ${log}`)));
});

const insertSql = [
  'create table t(x);',
  ...Array.from({ length: inserts }, (_, i) => `insert into t values (${i});`),
].join('\n');
const workloads = [
  {
    name: `speedtest1 --size ${size}`,
    args: [join(sharedBench, 'speedtest1.wasm'), '--size', size, '/data/bench.db'],
    input: undefined,
    ms: (stdout: string, wall: number) => speedtestTotalMs(stdout) || wall,
  },
  {
    name: `${inserts} autocommit INSERTs`,
    args: [join(sharedBench, 'sqlite3.wasm'), '/data/bench.db'],
    input: insertSql,
    ms: (_: string, wall: number) => wall,
  },
];

const rows: (string | number)[][] = [];
try {
  for (const [wi, w] of workloads.entries()) {
    const result = { plain: [] as number[], kbs: [] as number[], advances: [] as number[] };
    for (let i = 0; i < runs; i++) {
      for (const mode of ['plain', 'kbs'] as const) {
        const volume = join(dir, `v${wi}-${mode}-${i}.vol`);
        const key = join(dir, `v${wi}-${mode}-${i}.key`);
        node([cli, 'volume', 'create', volume, '--size', '64M', '--key-file', key, '--generate-key']);
        const before = generation(volume);
        const kbs =
          mode === 'kbs' ? ['--kbs', `http://127.0.0.1:${port}`, '--kbs-key', join(dir, 'broker.jwk')] : [];
        const t = node(
          [
            cli,
            'run',
            '--volume',
            `${volume}::/data`,
            '--volume-key-file',
            key,
            '--tmpfs',
            '/tmp',
            ...kbs,
            ...w.args,
          ],
          w.input,
        );
        result[mode].push(w.ms(t.stdout, t.wallMs));
        if (mode === 'kbs') result.advances.push(generation(volume) - before);
        rmSync(volume);
      }
    }
    const [p, k, a] = [median(result.plain), median(result.kbs), median(result.advances)];
    rows.push([w.name, p, k, k / p, a, (k - p) / a]);
    process.stderr.write(`done: ${rows.at(-1)?.map(String).join(' | ')}\n`);
  }
} finally {
  server.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
printTable(
  `SQLite on a volume, median of ${runs} alternating runs (ms; speedtest1: its TOTAL, INSERTs: wall)`,
  ['workload', 'no counter', 'with --kbs', 'ratio', 'advances', 'ms per advance'],
  rows,
);
