// `cloister volume ls | cp | rm | fsck` on real volume files: each runs the volume tool in an enclave.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { cliPath, runCli, tempDir } from '../helpers/cli.ts';

const sqlite = fileURLToPath(new URL('../../examples/sqlite3.wasm', import.meta.url));
const UNIT = 4096;

/** The 4 KiB units in which two files differ. */
function changedUnits(a: Buffer, b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i * UNIT < b.length; i++)
    if (!a.subarray(i * UNIT, (i + 1) * UNIT).equals(b.subarray(i * UNIT, (i + 1) * UNIT))) out.push(i);
  return out;
}

/** Runs the SQLite shell on /data/app.db in the volume, feeding `sql`. */
function sqliteOn(dir: string, volume: string, key: string, sql: string) {
  return runCli(['run', '--volume', `${volume}::/data`, '--volume-key-file', key, sqlite, '/data/app.db'], {
    cwd: dir,
    input: sql,
  });
}

/** Starts SQLite in a transaction and kills it (SIGKILL) once the shell shows it is inside it. */
function killSqliteInTransaction(dir: string, volume: string, key: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [cliPath, 'run', '--volume', `${volume}::/data`, '--volume-key-file', key, sqlite, '/data/app.db'],
      { cwd: dir, stdio: ['pipe', 'pipe', 'ignore'] },
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('inside')) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      if (out.includes('inside')) resolve();
      else reject(new Error(`SQLite never got into its transaction: ${out}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.write(
      "CREATE TABLE t(x);\nINSERT INTO t VALUES (1);\nBEGIN;\nINSERT INTO t VALUES (2);\nSELECT 'inside';\n",
    );
  });
}

describe('the volume tool', () => {
  const wasm = (): Buffer => readFileSync(new URL('../../src/cli/volume-tool.wasm', import.meta.url));

  it('is the build recorded in native/volume-tool/SHA256SUMS, a WASI command and nothing more', () => {
    const sums = readFileSync(new URL('../../native/volume-tool/SHA256SUMS', import.meta.url), 'utf8');
    assert.ok(
      sums.includes(`${createHash('sha256').update(wasm()).digest('hex')}  src/cli/volume-tool.wasm`),
    );
    const module = new WebAssembly.Module(new Uint8Array(wasm()));
    assert.ok(WebAssembly.Module.imports(module).every((i) => i.module === 'wasi_snapshot_preview1'));
    assert.deepEqual(
      WebAssembly.Module.exports(module)
        .map((e) => e.name)
        .sort(),
      ['_start', 'memory'],
    );
  });

  it('rebuilds from its source to the same bytes', (t) => {
    const haveClang = spawnSync('clang', ['--version']).status === 0;
    if (!haveClang && process.env.CI !== 'true') return t.skip('clang (with wasi-libc) is not installed');
    const out = join(tempDir(), 'volume-tool.wasm');
    const build = spawnSync(
      'bash',
      [fileURLToPath(new URL('../../native/volume-tool/build.sh', import.meta.url))],
      {
        env: { ...process.env, VOLUME_TOOL_OUT: out },
        encoding: 'utf8',
      },
    );
    assert.equal(build.status, 0, build.stderr);
    assert.ok(readFileSync(out).equals(wasm()), 'the rebuilt tool differs from the committed one');
  });
});

describe('cloister volume ls | cp | rm | fsck', () => {
  let dir: string;
  const volume = (): string => join(dir, 'data.vol');
  const key = (): string => join(dir, 'data.key');

  before(async () => {
    dir = tempDir();
    const made = await runCli([
      'volume',
      'create',
      volume(),
      '--size',
      '16M',
      '--key-file',
      key(),
      '--generate-key',
    ]);
    assert.equal(made.code, 0, made.stderr);
  });

  it('copies a file in and out, lists it and checks the file system, without the plaintext on disk', async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(dir, 'blob.bin'), data);
    const copyIn = await runCli([
      'volume',
      'cp',
      join(dir, 'blob.bin'),
      `${volume()}:/`,
      '--key-file',
      key(),
    ]);
    assert.equal(copyIn.code, 0, copyIn.stderr);
    assert.ok(!readFileSync(volume()).includes(data.subarray(1000, 1064)), 'plaintext in the volume file');

    const list = await runCli(['volume', 'ls', volume(), '--key-file', key()]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^- +300000 blob\.bin$/m);
    assert.match(list.stdout, /^d +\d+ lost\+found\/$/m);

    const copyOut = await runCli([
      'volume',
      'cp',
      `${volume()}:/blob.bin`,
      join(dir, 'back.bin'),
      '--key-file',
      key(),
    ]);
    assert.equal(copyOut.code, 0, copyOut.stderr);
    assert.ok(readFileSync(join(dir, 'back.bin')).equals(data));

    const check = await runCli(['volume', 'fsck', volume(), '--key-file', key()]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /2 directories, 1 files \(300000 bytes read and authenticated\).*: clean/);
  });

  it('refuses a wrong key and shows nothing', async () => {
    writeFileSync(join(dir, 'wrong.key'), randomBytes(32).toString('hex'));
    const list = await runCli(['volume', 'ls', volume(), '--key-file', join(dir, 'wrong.key')]);
    assert.notEqual(list.code, 0);
    assert.equal(list.stdout, '');
    assert.match(list.stderr, /key|authenticat/i);
  });

  it('fsck names the file whose block the host changed', async () => {
    const big = randomBytes(1 << 20);
    writeFileSync(join(dir, 'big.bin'), big);
    const tampered = join(dir, 'tampered.vol');
    copyFileSync(volume(), tampered);
    const copyIn = await runCli([
      'volume',
      'cp',
      join(dir, 'big.bin'),
      `${tampered}:/big.bin`,
      '--key-file',
      key(),
    ]);
    assert.equal(copyIn.code, 0, copyIn.stderr);
    const before = readFileSync(volume());
    const after = readFileSync(tampered);
    // The units the copy wrote: most are the file's data slots, written after the metadata's.
    const changed = changedUnits(before, after);
    const unit = changed[Math.floor((changed.length * 2) / 3)];
    after[unit * UNIT + 100] ^= 0x10;
    writeFileSync(tampered, after);

    const check = await runCli(['volume', 'fsck', tampered, '--key-file', key()]);
    assert.equal(check.code, 1, check.stderr);
    assert.match(check.stderr, /fails authentication/);
    assert.match(check.stderr, /^\/big\.bin: I\/O error$/m);
    assert.match(check.stdout, /PROBLEMS FOUND/);
  });

  it('removes the lock directory a killed SQLite left, after which SQLite recovers from its hot journal', async () => {
    const db = join(dir, 'db.vol');
    const dbKey = join(dir, 'db.key');
    const made = await runCli([
      'volume',
      'create',
      db,
      '--size',
      '16M',
      '--key-file',
      dbKey,
      '--generate-key',
    ]);
    assert.equal(made.code, 0, made.stderr);
    await killSqliteInTransaction(dir, db, dbKey);

    const list = await runCli(['volume', 'ls', db, '--key-file', dbKey]);
    assert.match(list.stdout, /^d +\d+ app\.db\.lock\/$/m);
    const locked = await sqliteOn(dir, db, dbKey, 'SELECT count(*) FROM t;\n');
    assert.match(locked.stderr, /database is locked/);

    const removed = await runCli(['volume', 'rm', `${db}:/app.db.lock`, '--key-file', dbKey]);
    assert.equal(removed.code, 0, removed.stderr);
    const after = await sqliteOn(dir, db, dbKey, 'PRAGMA integrity_check;\nSELECT count(*) FROM t;\n');
    assert.equal(after.code, 0, after.stderr);
    // The hot journal rolls back to a committed state: with SQLite's default synchronous=FULL the
    // deletion of the last journal is not made durable, so the last commit may be undone too.
    assert.match(after.stdout, /^ok\n[01]\n$/);
    const check = await runCli(['volume', 'fsck', db, '--key-file', dbKey]);
    assert.equal(check.code, 0, check.stderr);
  });

  it('rm removes a tree only with -r, and never the root', async () => {
    const copy = await runCli([
      'volume',
      'cp',
      join(dir, 'blob.bin'),
      `${volume()}:/lost+found`,
      '--key-file',
      key(),
    ]);
    assert.equal(copy.code, 0, copy.stderr);
    const plain = await runCli(['volume', 'rm', `${volume()}:/lost+found`, '--key-file', key()]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /\/lost\+found: Directory not empty \(remove it with -r\)/);
    const tree = await runCli(['volume', 'rm', '-r', `${volume()}:/lost+found`, '--key-file', key()]);
    assert.equal(tree.code, 0, tree.stderr);
    const list = await runCli(['volume', 'ls', `${volume()}:/`, '--key-file', key()]);
    assert.doesNotMatch(list.stdout, /lost\+found/);
    const root = await runCli(['volume', 'rm', '-r', volume(), '--key-file', key()]);
    assert.equal(root.code, 2);
    assert.match(root.stderr, /name what to remove inside the volume/);
  });

  it('says what is wrong with the command line', async () => {
    const neither = await runCli(['volume', 'cp', join(dir, 'a'), join(dir, 'b'), '--key-file', key()]);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /name the volume side as VOLUME:\/PATH/);
    const noKey = await runCli(['volume', 'ls', volume()]);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /--key-file/);
    const missing = await runCli(['volume', 'fsck', join(dir, 'nope.vol'), '--key-file', key()]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.vol: no such volume file/);
    const noFile = await runCli(['volume', 'ls', `${volume()}:/nothing`, '--key-file', key()]);
    assert.equal(noFile.code, 1);
    assert.match(noFile.stderr, /\/nothing: No such file or directory/);
  });
});
