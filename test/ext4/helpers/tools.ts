import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable on PATH (or in the sbin directories, where e2fsprogs lives). */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Checks that an external tool is installed. Returns undefined when it is, else a skip reason for
 * `test(..., { skip })`; in CI (`CI` set) a missing tool throws instead, so interop tests fail there
 * rather than silently skip.
 */
export function requireTool(...names: string[]): string | undefined {
  const missing = names.filter((n) => !findTool(n));
  if (missing.length === 0) return undefined;
  const reason = `${missing.join(', ')} not installed (apt-get install -y e2fsprogs)`;
  if (process.env.CI) throw new Error(`interop test needs ${reason}`);
  return reason;
}

/** Path of a tool that {@link requireTool} has confirmed. */
export function tool(name: string): string {
  const path = findTool(name);
  if (!path) throw new Error(`${name} not installed`);
  return path;
}
