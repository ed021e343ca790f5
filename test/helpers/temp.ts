// Temporary directories that tests cannot leave behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

const made: string[] = [];
// Imported at the top of a test file, this is a file-level hook: it runs once every test of the file
// has finished, also when some failed. (A hook registered inside a before hook would run right
// after that hook, before the tests that use the directory.)
after(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A new directory under the temporary folder, removed with everything in it when the test file ends. */
export function tempDir(prefix = 'cloister-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
