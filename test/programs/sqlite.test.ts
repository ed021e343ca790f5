// Real programs in the enclave: the SQLite shell with its database on a host directory, read back
// by the same shell under Node's own node:wasi, and SQLite's speedtest1.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WASI } from 'node:wasi';
import { Worker } from 'node:worker_threads';
import { runCli, sharedDir, tempDir } from '../helpers/cli.ts';

/** Runs the SQLite shell under node:wasi in a worker (it blocks), with SQL as an argument. */
function sqliteUnderNodeWasi(dir: string, sql: string): Promise<string> {
  const source = `
    const { WASI } = require('node:wasi');
    const { readFileSync, writeSync, openSync, closeSync, readFileSync: r } = require('node:fs');
    const { workerData, parentPort } = require('node:worker_threads');
    const outPath = workerData.dir + '/.stdout';
    const out = openSync(outPath, 'w');
    const wasi = new WASI({ version: 'preview1', args: ['sqlite3', '/data/db.sqlite', workerData.sql], preopens: { '/data': workerData.dir }, stdout: out, returnOnExit: true });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(workerData.wasm)), wasi.getImportObject());
    const code = wasi.start(instance);
    closeSync(out);
    parentPort.postMessage({ code, stdout: r(outPath, 'utf8') });`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, {
      eval: true,
      workerData: { dir, sql, wasm: 'examples/sqlite3.wasm' },
    });
    worker.on('message', (m: { code: number; stdout: string }) =>
      m.code === 0 ? resolve(m.stdout) : reject(new Error(`exit ${m.code}`)),
    );
    worker.on('error', reject);
  });
}

describe('SQLite inside the enclave', () => {
  it('writes a database on a --dir mount that node:wasi reads back', async () => {
    assert.ok(WASI, 'node:wasi is available');
    const dir = tempDir();
    const sql = [
      'create table readings(id integer primary key, meter text, kwh real);',
      "insert into readings(meter, kwh) select 'm' || (value % 7), value * 0.5 from generate_series(1, 2000);",
      'create index by_meter on readings(meter);',
      'select count(*), sum(kwh) from readings;',
    ].join('\n');
    const r = await runCli(['run', '--dir', `${dir}::/data`, 'examples/sqlite3.wasm', '/data/db.sqlite'], {
      input: `${sql}\n`,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '2000|1000500.0\n');
    assert.equal(readFileSync(join(dir, 'db.sqlite')).subarray(0, 16).toString(), 'SQLite format 3\0');
    const back = await sqliteUnderNodeWasi(
      dir,
      "select count(*), sum(kwh) from readings where meter = 'm3';",
    );
    assert.equal(back, '286|143071.5\n');
  });

  it('completes speedtest1 --size 25 in memory', { timeout: 120_000 }, async () => {
    // SQLite puts VACUUM's temporary database in /tmp: an in-enclave tmpfs here.
    const r = await runCli([
      'run',
      '--tmpfs',
      '/tmp',
      join(sharedDir, 'bench/speedtest1.wasm'),
      '--size',
      '25',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /TOTAL/);
  });
});
