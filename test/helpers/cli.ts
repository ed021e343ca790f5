// Runs the built `cloister` command and assembles hand-written WebAssembly for tests.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wabtFactory from 'wabt';
import { tempDir } from './temp.ts';

export { tempDir };

export const cliPath = fileURLToPath(new URL('../../dist/cli.cjs', import.meta.url));
export const sharedDir = fileURLToPath(new URL('../../../shared/', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export function runCli(
  args: string[],
  options: { input?: string | Buffer; cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString(), stderr, stdoutBytes });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** Assembles WAT text (with names kept) and writes it to a temporary .wasm file. */
export async function watFile(name: string, text: string): Promise<string> {
  const wabt = await wabtFactory();
  const module = wabt.parseWat(`${name}.wat`, text);
  const { buffer } = module.toBinary({ write_debug_names: true });
  module.destroy();
  const path = join(tempDir(), `${name}.wasm`);
  writeFileSync(path, buffer);
  return path;
}

/** Stays quiet about the sim warning, which every run prints first. */
export function withoutSimWarning(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !l.includes('sim backend'))
    .join('\n');
}
