import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/**
 * Makes a test depend on an external tool (veritysetup, cryptsetup, mke2fs…): skips it when the
 * tool is missing, except in CI (`process.env.CI` set), where a missing tool is a failure.
 * Returns false when the test was skipped and should return early.
 */
export function requireTool(t: TestContext, name: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
  if (found) return true;
  if (process.env.CI) throw new Error(`required tool '${name}' is not installed (CI must install it)`);
  t.skip(`${name} is not installed`);
  return false;
}

/** Runs a tool, returning its stdout; throws with stderr on a non-zero exit. */
export function run(cmd: string, args: string[], input?: string | Uint8Array): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.error ?? ''}`);
  return r.stdout;
}

/** Like {@link run}, but returns the exit status and output instead of throwing. */
export function tryRun(cmd: string, args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}
