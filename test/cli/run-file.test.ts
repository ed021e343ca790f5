// `--config FILE`: one TOML (or JSON) file for everything `cloister run` accepts — image, program and
// args, volumes and their keys, mounts, env, memory — measured exactly as the same command line;
// `measure --explain` shows the measured part and the host-only part apart.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { requireTool } from '../storage/helpers/tools.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-run-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string): string => join(dir, name);

describe('cloister run --config FILE', () => {
  before(async () => {
    mkdirSync(at('app/rootfs/bin'), { recursive: true });
    mkdirSync(at('app/shared'));
    copyFileSync('examples/sqlite3.wasm', at('app/rootfs/bin/sqlite3.wasm'));
    const img = await runCli(['image', 'build', '--from', at('app/rootfs'), '-o', at('app/app.img')]);
    assert.equal(img.code, 0, img.stderr);
    writeFileSync(at('app/vol.key'), `${'cd'.repeat(32)}\n`);
    const vol = await runCli([
      'volume',
      'create',
      at('app/data.vol'),
      '--size',
      '8M',
      '--key-file',
      at('app/vol.key'),
    ]);
    assert.equal(vol.code, 0, vol.stderr);
  });

  it('runs an image with a volume, its key, env, args and a host dir, paths relative to the file', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    writeFileSync(
      at('app/cloister.toml'),
      [
        '# SQLite from the image, its database on the volume',
        'program = "app.img"',
        'args = ["/bin/sqlite3.wasm", "/data/db.sqlite"]',
        'volume = ["data.vol::/data"]',
        'volume-key-file = "vol.key"',
        'dir = ["shared::/shared"]',
        'memory = "256M"',
        '[env]',
        'HOME = "/data"',
        '',
      ].join('\n'),
    );
    // Run from another folder: the file's paths are relative to the file.
    const write = await runCli(['run', '--config', at('app/cloister.toml')], {
      cwd: tmpdir(),
      input: "create table t(x); insert into t values ('kept');\n",
    });
    assert.equal(write.code, 0, write.stderr);
    const read = await runCli(['run', '--config', at('app/cloister.toml')], { input: 'select x from t;\n' });
    assert.equal(read.code, 0, read.stderr);
    assert.equal(read.stdout.trim(), 'kept');

    const fromFile = await runCli(['measure', '--config', at('app/cloister.toml')]);
    const fromFlags = await runCli([
      'measure',
      at('app/app.img'),
      '--dir',
      `${at('app/shared')}::/shared`,
      '--memory',
      '256M',
      '--env',
      'HOME=/data',
      '--volume',
      `${at('app/data.vol')}::/data`,
      '--',
      '/bin/sqlite3.wasm',
      '/data/db.sqlite',
    ]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match(fromFile.stdout, /^[0-9a-f]{64}\n$/);
    assert.equal(fromFile.stdout, fromFlags.stdout, 'the file measures as the same command line');
  });

  it('the command line adds to lists and replaces single values; a PROGRAM replaces the file’s', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    writeFileSync(
      at('env.toml'),
      'program = "app/app.img"\nargs = ["/bin/sqlite3.wasm"]\nmemory = 64\nenv = ["A=1"]\n',
    );
    const base = await runCli(['measure', '--config', at('env.toml')]);
    const same = await runCli([
      'measure',
      at('app/app.img'),
      '--memory',
      '64',
      '--env',
      'A=1',
      '--',
      '/bin/sqlite3.wasm',
    ]);
    assert.equal(base.stdout, same.stdout);
    const more = await runCli(['measure', '--config', at('env.toml'), '--env', 'B=2', '--memory', '128M']);
    const moreFlags = await runCli([
      'measure',
      at('app/app.img'),
      '--memory',
      '128M',
      '--env',
      'A=1',
      '--env',
      'B=2',
      '--',
      '/bin/sqlite3.wasm',
    ]);
    assert.equal(more.stdout, moreFlags.stdout);
    assert.notEqual(more.stdout, base.stdout);
  });

  it('measure --explain shows the measured part and the host-only part apart', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const r = await runCli([
      'measure',
      '--config',
      at('app/cloister.toml'),
      '--volume-key-file',
      at('app/vol.key'),
      '--explain',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [measured, hostOnly] = r.stdout.split('host-only (not measured):');
    assert.match(measured, /^mrenclave [0-9a-f]{64}$/m);
    assert.match(measured, /"rootHash":"[0-9a-f]{64}"/);
    assert.match(measured, /"guest":"\/data","type":"volume","uuid":"[0-9a-f-]{36}"/);
    assert.doesNotMatch(measured, /data\.vol|vol\.key|app\/shared/, 'host paths are not measured');
    assert.match(hostOnly, /--dir +.*app\/shared at \/shared/);
    assert.match(hostOnly, /block device +.*app\.img \(read-only/);
    assert.match(hostOnly, /block device +.*data\.vol \(read-write/);
    assert.match(hostOnly, /volume key 1 \(provisioned at launch, not measured\)/);
  });

  it('refuses unknown keys, wrong types and broken TOML with the file named', async () => {
    const cases: [string, RegExp][] = [
      ['program = "a.wasm"\nvolumes = ["x"]\n', /unknown key "volumes" \(known: program, args/],
      ['program = "a.wasm"\nmemory = true\n', /memory must be a size/],
      ['program = "a.wasm"\noverlay = "yes"\n', /overlay must be true or false/],
      ['program = "a.wasm"\nargs = [1, 2]\n', /args must be a string or a list of strings/],
      ['program = "a.wasm\n', /bad\.toml: /],
      ['args = ["x"]\n', /no program: set program = /],
      ['[env]\nA = 1\nprogram = "x"\n', /env.A must be a string/],
    ];
    for (const [text, pattern] of cases) {
      writeFileSync(at('bad.toml'), text);
      const r = await runCli(['run', '--config', at('bad.toml')]);
      assert.equal(r.code, 2, `${text}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.match(r.stderr, /--config .*bad\.toml/);
    }
  });

  it('still reads JSON files', async () => {
    writeFileSync(at('app/shared/hello.txt'), 'hi');
    writeFileSync(
      at('run.json'),
      JSON.stringify({ program: 'app/app.img', args: ['/bin/sqlite3.wasm'], dir: ['app/shared::/s'] }),
    );
    const r = await runCli(['run', '--config', at('run.json')], {
      input: "select readfile('/s/hello.txt');\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'hi');
  });
});
