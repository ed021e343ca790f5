/** `cloister tcb`: how much code the enclave trusts — its sources and the measured bundle. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { distFile, packageRoot } from '../host/package-files.ts';

export interface TcbReport {
  rows: { area: string; files: number; lines: number }[];
  bundleBytes: number;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** The trusted code: everything under src/enclave plus the ABI in src/interface it compiles in. */
export function measureTcb(): TcbReport {
  const root = packageRoot();
  const rows = ['src/enclave', 'src/interface'].map((area) => {
    const files = sourceFiles(join(root, area));
    const lines = files.reduce((sum, f) => sum + readFileSync(f, 'utf8').split('\n').length, 0);
    return { area: relative(root, join(root, area)), files: files.length, lines };
  });
  return { rows, bundleBytes: statSync(distFile('enclave.js')).size };
}

export function formatTcb(report: TcbReport): string {
  const lines = report.rows.map(
    (r) => `${r.area.padEnd(16)} ${String(r.files).padStart(5)} files ${String(r.lines).padStart(7)} lines`,
  );
  const files = report.rows.reduce((s, r) => s + r.files, 0);
  const total = report.rows.reduce((s, r) => s + r.lines, 0);
  lines.push(`${'total'.padEnd(16)} ${String(files).padStart(5)} files ${String(total).padStart(7)} lines`);
  lines.push(`enclave bundle   ${report.bundleBytes} bytes (dist/enclave.js, measured into MRENCLAVE)`);
  return lines.join('\n');
}
