/**
 * An executor for the wasi-testsuite JSON test format: runs each `NAME.wasm` of a suite folder
 * through `cloister run` with the arguments, environment and preopened root its `NAME.json`
 * gives, and compares the exit code and stdout (stderr too, when the spec gives it).
 * Usable as a script: `node --import tsx test/wasi-testsuite/executor.ts SUITE_DIR...`.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TestSpec {
  args: string[];
  env: Record<string, string>;
  root?: string;
  exit_code: number;
  stdout?: string;
  stderr?: string;
}

export interface TestResult {
  name: string;
  passed: boolean;
  why?: string;
}

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export function readSpec(wasmPath: string): TestSpec {
  const jsonPath = wasmPath.replace(/\.wasm$/, '.json');
  const raw = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as Partial<TestSpec>) : {};
  return {
    args: raw.args ?? [],
    env: raw.env ?? {},
    root: raw.root,
    exit_code: raw.exit_code ?? 0,
    stdout: raw.stdout,
    stderr: raw.stderr,
  };
}

function removeCleanupArtifacts(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name.endsWith('.cleanup')) rmSync(path, { recursive: true, force: true });
    else if (entry.isDirectory()) removeCleanupArtifacts(path);
  }
}

function exec(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs one test program and judges it against its spec. */
export async function runTest(wasmPath: string): Promise<TestResult> {
  const name = `${basename(join(wasmPath, '..'))}/${basename(wasmPath, '.wasm')}`;
  const spec = readSpec(wasmPath);
  const args = ['run'];
  let scratch: string | undefined;
  if (spec.root) {
    // The suite folder is read-only for tests: each run gets its own copy of the root.
    scratch = mkdtempSync(join(tmpdir(), 'wasi-testsuite-'));
    cpSync(join(wasmPath, '..', spec.root), scratch, { recursive: true });
    removeCleanupArtifacts(scratch);
    args.push('--dir', `${scratch}::/`);
  }
  for (const [k, v] of Object.entries(spec.env)) args.push('--env', `${k}=${v}`);
  args.push(wasmPath, '--', ...spec.args);
  try {
    const { code, stdout, stderr } = await exec(args);
    const problems: string[] = [];
    if (code !== spec.exit_code) problems.push(`exit code ${code}, expected ${spec.exit_code}`);
    if (spec.stdout !== undefined && stdout !== spec.stdout)
      problems.push(`stdout ${JSON.stringify(stdout)}`);
    if (spec.stderr !== undefined && !stderr.endsWith(spec.stderr))
      problems.push(`stderr ${JSON.stringify(stderr)}`);
    if (problems.length > 0 && stderr)
      problems.push(`stderr was: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return { name, passed: problems.length === 0, why: problems.join('; ') || undefined };
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/** Runs every test of a suite folder (one with a manifest.json). */
export async function runSuite(dir: string): Promise<TestResult[]> {
  const tests = readdirSync(dir)
    .filter((f) => f.endsWith('.wasm'))
    .sort();
  const results: TestResult[] = [];
  for (const test of tests) results.push(await runTest(join(dir, test)));
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let failed = 0;
  let passed = 0;
  for (const dir of process.argv.slice(2)) {
    for (const result of await runSuite(dir)) {
      if (result.passed) passed++;
      else failed++;
      console.log(`${result.passed ? 'PASS' : 'FAIL'} ${result.name}${result.why ? `: ${result.why}` : ''}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}
