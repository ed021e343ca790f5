// `cloister run IMG` as a user gets it wrong or moves files around: an image without its .json
// descriptor, keys given to an unencrypted image, passphrase files, options after IMG without `--`.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { requireTool } from '../storage/helpers/tools.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-image-usage-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const image = join(dir, 'app.img');
const sql = { input: 'select 6*7;\n' };
let rootHash = '';

describe('cloister run IMG: usage', () => {
  before(async () => {
    mkdirSync(join(dir, 'rootfs/bin'), { recursive: true });
    copyFileSync('examples/sqlite3.wasm', join(dir, 'rootfs/bin/sqlite3.wasm'));
    const r = await runCli(['image', 'build', '--from', join(dir, 'rootfs'), '-o', image]);
    assert.equal(r.code, 0, r.stderr);
    rootHash = r.stdout.trim();
  });

  it('an image moved without its descriptor: named as such, and runs with --root-hash alone', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const moved = join(dir, 'moved.img');
    copyFileSync(image, moved);
    const r = await runCli(['run', moved, '--', '/bin/sqlite3.wasm'], sql);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /moved\.img is a disk image without its descriptor .*moved\.img\.json: give --root-hash HEX/,
    );
    assert.doesNotMatch(r.stderr, /WebAssembly/);

    const ok = await runCli(['run', moved, '--root-hash', rootHash, '--', '/bin/sqlite3.wasm'], sql);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), '42');

    const wrong = await runCli(
      ['run', moved, '--root-hash', 'ab'.repeat(32), '--', '/bin/sqlite3.wasm'],
      sql,
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /root hash/i);
    assert.equal(wrong.stdout, '');
  });

  it('a file that is neither a module nor an image is still "not a WebAssembly module"', async () => {
    const junk = join(dir, 'junk.bin');
    writeFileSync(junk, Buffer.alloc(8192, 7));
    const r = await runCli(['run', junk]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a WebAssembly module/);
  });

  it('--key-file or --passphrase-file with an unencrypted image is an error', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    writeFileSync(join(dir, 'k'), 'key');
    for (const option of ['--key-file', '--passphrase-file']) {
      const r = await runCli(['run', image, option, join(dir, 'k'), '--', '/bin/sqlite3.wasm'], sql);
      assert.equal(r.code, 2);
      assert.match(r.stderr, new RegExp(`${option}: .*app\\.img is not encrypted \\(no LUKS2 header\\)`));
    }
  });

  it('a mount at / beside the root image names the clash', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    mkdirSync(join(dir, 'hostdir'), { recursive: true });
    for (const [option, value] of [
      ['--dir', `${join(dir, 'hostdir')}::/`],
      ['--tmpfs', '/'],
    ]) {
      const r = await runCli(['run', image, option, value, '--', '/bin/sqlite3.wasm'], sql);
      assert.equal(r.code, 2);
      assert.match(r.stderr, new RegExp(`${option} at / clashes with the root image`));
    }
  });

  it('--trace-host after IMG is taken like any run option, and measure still refuses it', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const r = await runCli(['run', image, '--trace-host', '--', '/bin/sqlite3.wasm'], sql);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '42');
    assert.match(r.stderr, /^workload-dependent\s+block_read\s+\d+/m);
    const measured = await runCli(['measure', image, '--trace-host', '--', '/bin/sqlite3.wasm']);
    assert.equal(measured.code, 2);
    assert.match(measured.stderr, /unknown option '--trace-host'/);
  });

  it('options after IMG without -- are named', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const r = await runCli(['run', image, '--env', 'A=1', '/bin/sqlite3.wasm'], sql);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--env after the image is read as the program: end the options with -- before it/);
  });

  it('--passphrase-file: its one line, LF or CRLF, in build and run alike; two lines are refused', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const enc = join(dir, 'enc.img');
    writeFileSync(join(dir, 'crlf.pass'), 'correct horse\r\n');
    writeFileSync(join(dir, 'lf.pass'), 'correct horse\n');
    writeFileSync(join(dir, 'two.pass'), 'correct horse\nbattery staple\n');
    const fast = ['--pbkdf', 'pbkdf2', '--pbkdf-iterations', '1000'];
    const build = await runCli([
      'image',
      'build',
      '--from',
      join(dir, 'rootfs'),
      '-o',
      enc,
      '--encrypt',
      '--passphrase-file',
      join(dir, 'crlf.pass'),
      ...fast,
    ]);
    assert.equal(build.code, 0, build.stderr);
    const run = await runCli(
      ['run', enc, '--passphrase-file', join(dir, 'lf.pass'), '--', '/bin/sqlite3.wasm'],
      sql,
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), '42');
    const two = await runCli(
      ['run', enc, '--passphrase-file', join(dir, 'two.pass'), '--', '/bin/sqlite3.wasm'],
      sql,
    );
    assert.equal(two.code, 2);
    assert.match(two.stderr, /two\.pass: more than one line/);
    const twoBuild = await runCli([
      'image',
      'build',
      '--from',
      join(dir, 'rootfs'),
      '-o',
      join(dir, 'x.img'),
      '--encrypt',
      '--passphrase-file',
      join(dir, 'two.pass'),
    ]);
    assert.equal(twoBuild.code, 2);
    assert.match(twoBuild.stderr, /more than one line/);
  });
});
