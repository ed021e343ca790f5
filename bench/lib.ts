// Shared pieces of the benchmarks: running commands, medians, and printing ratio tables.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const cli = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
export const nodeWasiRunner = fileURLToPath(new URL('./node-wasi-runner.mjs', import.meta.url));
/** The SQLite binaries: `$SHARED_BENCH`, or `shared/bench/` beside the checkout (or beside its worktree folder). */
export const sharedBench =
  process.env.SHARED_BENCH ??
  ['../../shared/bench/', '../../../shared/bench/']
    .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
    .find((dir) => existsSync(dir)) ??
  fileURLToPath(new URL('../../shared/bench/', import.meta.url));

export interface Timed {
  wallMs: number;
  stdout: string;
}

/** Runs `node ARGS`, failing loudly on a non-zero status. */
export function timeNode(args: string[]): Timed {
  const start = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const wallMs = performance.now() - start;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-500)}`);
  return { wallMs, stdout: r.stdout };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** speedtest1's own TOTAL line, in ms (excludes start-up). */
export function speedtestTotalMs(stdout: string): number {
  const m = /TOTAL\.+\s+([\d.]+)s/.exec(stdout);
  if (!m) throw new Error('no TOTAL line in speedtest1 output');
  return Number(m[1]) * 1000;
}

export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toFixed(c < 10 ? 3 : 1) : c)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  console.log(`\n${title}`);
  console.log(header.map((h, i) => h.padEnd(widths[i])).join('  '));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells)
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
}

/** The 1-minute load average, for the figures' caption (they mean little above the core count). */
export function loadNote(): string {
  const [one] = loadavg();
  return `load average ${one.toFixed(2)} on ${availableParallelism()} cores`;
}

/**
 * Starts `count` busy-loop processes (contention mode: other programs keeping the cores busy).
 * Returns a function that ends them; they also end with this process.
 */
export function startBusyLoops(count: number): () => void {
  const loops: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    loops.push(spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
  }
  const stop = (): void => {
    for (const loop of loops) loop.kill('SIGKILL');
    process.removeListener('exit', stop);
  };
  process.on('exit', stop);
  return stop;
}

export interface Goal {
  measure: string;
  value: number;
  /** Met when `value` is at most this. */
  atMost: number;
}

/** Prints the goals against the figures of this run. */
export function printGoals(title: string, goals: Goal[]): void {
  printTable(
    title,
    ['goal', 'measured', 'target', 'met'],
    goals.map((g) => [g.measure, g.value, `<= ${g.atMost}`, g.value <= g.atMost ? 'met' : 'NOT met']),
  );
}
