// Shared pieces of the benchmarks: running commands, medians, and printing ratio tables.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
export const nodeWasiRunner = fileURLToPath(new URL('./node-wasi-runner.mjs', import.meta.url));
export const sharedBench = fileURLToPath(new URL('../../shared/bench/', import.meta.url));

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
