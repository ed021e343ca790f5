/**
 * Removes half-made files if this process dies before it could clean up itself. Long builds run
 * synchronously (mke2fs through spawnSync, block-by-block writes), so a SIGINT handler would only
 * run after the work is done, and SIGKILL runs nothing at all: a small watcher process in its own
 * process group (so the terminal's Ctrl-C does not reach it) polls for this process and removes the
 * paths once it is gone. `release()` ends the watcher when the work finished or cleaned up itself.
 */
import { spawn } from 'node:child_process';

const WATCHER = `
const [pid, ...paths] = process.argv.slice(1);
const { rmSync } = require('node:fs');
const alive = () => { try { process.kill(Number(pid), 0); return true; } catch (e) { return e.code === 'EPERM'; } };
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {
  if (alive()) return;
  for (const p of paths) rmSync(p, { recursive: true, force: true });
  process.exit(0);
}, 100);
`;

export interface CleanupWatcher {
  release(): void;
}

/** Watches this process; if it dies before `release()`, removes `paths` (files or folders). */
export function removeIfKilled(paths: readonly string[]): CleanupWatcher {
  const child = spawn(process.execPath, ['-e', WATCHER, String(process.pid), ...paths], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  return {
    release: () => {
      child.kill('SIGTERM');
    },
  };
}
