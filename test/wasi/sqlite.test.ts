/** Real programs: the SQLite shell on tmpfs and on a host directory, and speedtest1 on tmpfs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTmpfs } from '../../src/enclave/vfs/index.ts';
import type { FileSystem } from '../../src/enclave/vfs/index.ts';
import { realHostDirFs } from './helpers/host-server.ts';
import { runWasm } from './helpers/run.ts';

const BENCH = '/work/shared/bench';
const SCRIPT = `
create table t(id integer primary key, name text);
insert into t(name) values ('alpha'), ('beta'), ('gamma');
create index t_name on t(name);
.mode list
select id || ':' || name from t order by name desc;
select count(*) from t;
`;

function runShell(fs: FileSystem, script: string): { exitCode: number; stdout: string; stderr: string } {
  return runWasm(join(BENCH, 'sqlite3.wasm'), {
    args: ['sqlite3', '-batch', '/data/test.db'],
    preopens: [{ guestPath: '/data', fs }],
    stdin: script,
  });
}

function checkOutput(stdout: string): void {
  assert.match(stdout, /3:gamma\n2:beta\n1:alpha\n/);
  assert.match(stdout, /\n3\n/);
}

test('sqlite3 shell runs a script from stdin on tmpfs, and the database persists across runs', () => {
  const fs = createTmpfs();
  const first = runShell(fs, SCRIPT);
  assert.equal(first.exitCode, 0, first.stderr);
  checkOutput(first.stdout);
  const second = runShell(fs, ".mode list\nselect group_concat(name, ',') from t;\n");
  assert.equal(second.exitCode, 0, second.stderr);
  assert.match(second.stdout, /alpha,beta,gamma/);
});

test('sqlite3 shell runs a script from stdin on a host directory and leaves the file there', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-sqlite-'));
  const host = realHostDirFs(dir);
  try {
    const result = runShell(host.fs, SCRIPT);
    assert.equal(result.exitCode, 0, result.stderr);
    checkOutput(result.stdout);
    assert.ok(existsSync(join(dir, 'test.db')));
    assert.ok(statSync(join(dir, 'test.db')).size >= 8192);
  } finally {
    host.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite3 reports SQL errors without crashing', () => {
  const result = runShell(createTmpfs(), 'select * from missing;\n');
  assert.match(result.stderr, /no such table: missing/);
});

test('speedtest1 --size 5 completes in memory and on a tmpfs database', () => {
  for (const args of [[], ['/data/speed.db']]) {
    const result = runWasm(join(BENCH, 'speedtest1.wasm'), {
      args: ['speedtest1', '--size', '5', ...args],
      preopens: [{ guestPath: '/data', fs: createTmpfs() }],
    });
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /990 - ANALYZE/);
    assert.match(result.stdout, /TOTAL\.+\s+[\d.]+s/);
  }
});
