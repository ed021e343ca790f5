/** `cloister demo`: the main job on built-in defaults — the SQLite shell in an enclave. */
import { join } from 'node:path';
import { packageRoot } from '../host/package-files.ts';
import type { RunOptions } from './run-options.ts';

const DEMO_SQL = [
  'create table enclave(fact text, value text);',
  "insert into enclave values ('runs in', 'a Cloister enclave'), ('database on', 'an in-enclave tmpfs');",
  "insert into enclave values ('sqlite', sqlite_version());",
  '.mode box',
  'select * from enclave;',
].join('\n');

export type RunCommand = (
  program: string,
  args: string[],
  options: RunOptions & { traceHost?: boolean },
) => Promise<number>;

export async function runDemo(run: RunCommand): Promise<number> {
  const program = join(packageRoot(), 'examples', 'sqlite3.wasm');
  process.stderr.write(
    `cloister demo: ${program} /data/demo.db (tmpfs at /data) with a built-in SQL script\n`,
  );
  return run(program, ['/data/demo.db', ...DEMO_SQL.split('\n')], {
    tmpfs: ['/data'],
    env: ['HOME=/data'],
    traceHost: true,
  });
}
