// Fixture programs for the partitioner tests: written to a temporary directory per test file.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Writes `files` (path → text) into a fresh directory removed after the tests. */
export function writeApp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-partition-'));
  dirs.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** The names of the functions in a set of function ids (`file:line:name`). */
export const names = (ids: Iterable<string>): string[] =>
  [...ids].map((id) => id.slice(id.lastIndexOf(':') + 1)).sort();
