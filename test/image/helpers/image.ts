// Shared checks of built images with the standard tools.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';
import { requireTool, run } from '../../storage/helpers/tools.ts';

/** A temporary directory removed when the test file finishes. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-image-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Requires every tool named (fails in CI when one is missing); false when the test was skipped. */
export function requireTools(t: TestContext, ...names: string[]): boolean {
  return names.every((name) => requireTool(t, name));
}

/** `debugfs -R CMD IMG`'s output. */
export function debugfs(image: string, command: string): string {
  return run('debugfs', ['-R', command, image]);
}

/** Runs `e2fsck -fn` (throws unless clean). */
export function e2fsckClean(image: string): void {
  run('e2fsck', ['-fn', image]);
}

/** A file's bytes as `debugfs -R 'cat PATH'` prints them. */
export function debugfsCat(image: string, path: string): Buffer {
  const r = spawnSync('debugfs', ['-R', `cat ${path}`, image], { maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`debugfs cat ${path} failed: ${r.stderr}`);
  return r.stdout;
}
