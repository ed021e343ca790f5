// `cloister image build | inspect | verify` through the built command: output, exit status, errors.
// Needs dist/ (node scripts/build.mjs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import type { ImageDescriptor } from '../../src/image/descriptor.ts';
import type { ImageInfo } from '../../src/image/inspect.ts';
import { runCli } from '../helpers/cli.ts';
import { pattern } from '../storage/helpers/files.ts';
import { requireTools, tempDir } from './helpers/image.ts';
import { tar } from './helpers/tar.ts';

const dir = tempDir();
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
const TOOLS = ['mke2fs', 'debugfs', 'dumpe2fs'];

/**
 * A new folder user nobody can reach: under the temporary folder when every folder above it lets
 * others through, else under /tmp. Removed when the tests end.
 */
function nobodyDir(): string {
  const passable = (path: string): boolean =>
    (statSync(path).mode & 0o001) !== 0 && (path === dirname(path) || passable(dirname(path)));
  const base = passable(tmpdir()) ? tmpdir() : '/tmp';
  const made = mkdtempSync(join(base, 'cloister-nobody-'));
  after(() => rmSync(made, { recursive: true, force: true }));
  return made;
}

/** chmod a+rX, recursively (a checkout made with umask 077 has 0600 files). */
function readableByAll(path: string): void {
  const st = statSync(path);
  chmodSync(path, st.mode | (st.isDirectory() ? 0o555 : 0o444));
  if (st.isDirectory()) for (const name of readdirSync(path)) readableByAll(join(path, name));
}

function source(): string {
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'data.bin'), pattern(100_000, 5));
  return src;
}

function oneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${stderr}`);
  assert.match(lines[0], pattern);
}

async function flipBit(path: string, offset: number): Promise<void> {
  const bytes = readFileSync(path);
  bytes[offset] ^= 0x10;
  writeFileSync(path, bytes);
}

describe('cloister image', () => {
  it('build prints the root hash; inspect --json reports the layout; verify accepts it', async (t) => {
    if (!requireTools(t, ...TOOLS)) return;
    const img = join(dir, 'app.img');
    const built = await runCli([
      'image',
      'build',
      '--from',
      source(),
      '-o',
      img,
      '--source-date-epoch',
      '1000',
    ]);
    assert.equal(built.code, 0, built.stderr);
    const d = JSON.parse(readFileSync(`${img}.json`, 'utf8')) as ImageDescriptor;
    assert.equal(built.stdout, `${d.rootHash}\n`);
    assert.match(built.stderr, new RegExp(`--hash-offset ${d.verity.hashOffset}`));
    assert.equal(d.sourceDateEpoch, 1000);
    assert.equal(d.luks2, null);

    const inspected = await runCli(['image', 'inspect', img, '--json']);
    assert.equal(inspected.code, 0, inspected.stderr);
    const info = JSON.parse(inspected.stdout) as ImageInfo;
    assert.equal(info.rootHash, d.rootHash);
    assert.equal(info.size, d.size);
    assert.deepEqual(
      { ...info.verity, levels: undefined },
      {
        hashOffset: d.verity.hashOffset,
        dataBlocks: d.verity.dataBlocks,
        dataBlockSize: 4096,
        hashBlockSize: 4096,
        hashAlgorithm: 'sha256',
        salt: d.verity.salt,
        uuid: d.verity.uuid,
        levels: undefined,
        hashSize: d.verity.hashSize,
      },
    );
    assert.equal(info.ext4?.uuid, d.ext4.uuid);
    assert.equal(info.ext4?.blocks, d.ext4.size / 4096);
    assert.equal(info.luks2, null);
    assert.deepEqual(
      info.layout.map((r) => [r.offset, r.size]),
      [
        [0, d.verity.hashOffset],
        [d.verity.hashOffset, d.verity.hashSize],
      ],
    );
    const text = await runCli(['image', 'inspect', img]);
    assert.match(text.stdout, new RegExp(`root hash:\\s+${d.rootHash}`));

    const ok = await runCli(['image', 'verify', img, '--root-hash', d.rootHash]);
    assert.equal(ok.code, 0);
    assert.equal(ok.stdout, `${img}: OK, ${d.verity.dataBlocks} data blocks match root hash ${d.rootHash}\n`);
    const wrong = await runCli(['image', 'verify', img, '--root-hash', 'ab'.repeat(32)]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /FAILED: dm-verity: root hash does not match the hash tree/);
  });

  it('verify detects a flipped bit in a data block and in the hash tree', async (t) => {
    if (!requireTools(t, ...TOOLS)) return;
    const img = join(dir, 'flip.img');
    assert.equal((await runCli(['image', 'build', '--from', source(), '-o', img])).code, 0);
    const d = JSON.parse(readFileSync(`${img}.json`, 'utf8')) as ImageDescriptor;
    await flipBit(img, 5 * 4096 + 100);
    const data = await runCli(['image', 'verify', img, '--root-hash', d.rootHash]);
    assert.equal(data.code, 1);
    assert.match(data.stdout, /^.*: FAILED: dm-verity: data block 5 does not match its hash\n$/);

    const img2 = join(dir, 'flip2.img');
    assert.equal((await runCli(['image', 'build', '--from', source(), '-o', img2])).code, 0);
    await flipBit(img2, d.size - 4096 + 7); // the last block of the tree: level-0 hashes
    const tree = await runCli(['image', 'verify', img2]);
    assert.equal(tree.code, 1);
    assert.match(tree.stdout, /FAILED: dm-verity: hash block \d+ \(level 0\) does not match its hash/);
  });

  it('builds an encrypted image; inspect shows the LUKS2 keyslot and UUID', async (t) => {
    if (!requireTools(t, ...TOOLS)) return;
    const img = join(dir, 'enc.img');
    const pass = join(dir, 'pass.txt');
    writeFileSync(pass, 'correct horse\n');
    const built = await runCli(
      ['image', 'build', '--from', source(), '-o', img, '--encrypt', '--passphrase-file', pass].concat([
        '--pbkdf',
        'pbkdf2',
        '--pbkdf-iterations',
        '1000',
      ]),
    );
    assert.equal(built.code, 0, built.stderr);
    const d = JSON.parse(readFileSync(`${img}.json`, 'utf8')) as ImageDescriptor;
    const info = JSON.parse((await runCli(['image', 'inspect', img, '--json'])).stdout) as ImageInfo;
    assert.equal(info.luks2?.uuid, d.luks2?.uuid);
    assert.equal(info.luks2?.dataOffset, 1 << 20);
    assert.equal(info.luks2?.cipher, 'aes-xts-plain64');
    assert.deepEqual(
      info.luks2?.keyslots.map((k) => [k.id, k.keyBits, k.kdf]),
      [[0, 512, 'pbkdf2-sha256, 1000 iterations']],
    );
    assert.equal(info.ext4, null);
    assert.equal(info.layout[0].what, 'LUKS2 headers and keyslots');
    assert.equal((await runCli(['image', 'verify', img])).code, 0);
  });

  it('without the descriptor: inspect finds the appended tree, verify needs --root-hash', async (t) => {
    if (!requireTools(t, ...TOOLS)) return;
    const img = join(dir, 'bare.img');
    assert.equal((await runCli(['image', 'build', '--from', source(), '-o', img])).code, 0);
    const d = JSON.parse(readFileSync(`${img}.json`, 'utf8')) as ImageDescriptor;
    rmSync(`${img}.json`);
    const info = JSON.parse((await runCli(['image', 'inspect', img, '--json'])).stdout) as ImageInfo;
    assert.equal(info.rootHash, null);
    assert.equal(info.verity?.hashOffset, d.verity.hashOffset);
    const noHash = await runCli(['image', 'verify', img]);
    assert.equal(noHash.code, 1);
    oneLineError(noHash.stderr, /no root hash: pass --root-hash/);
    assert.equal((await runCli(['image', 'verify', img, '--root-hash', d.rootHash])).code, 0);
  });

  it('builds without root privileges, byte for byte as root does', async (t) => {
    if (process.getuid?.() !== 0 || !requireTools(t, ...TOOLS)) return t.skip('needs root to drop to nobody');
    if (spawnSync('setpriv', ['--version']).status !== 0) return t.skip('setpriv is not installed');
    // nobody may not be able to read the checkout (cloned into /root) or reach the temporary folder
    // (0700): it runs a copy of the built package from a folder it can reach.
    const shared = nobodyDir();
    const pkg = join(shared, 'cloister');
    cpSync(join(packageRoot, 'package.json'), join(pkg, 'package.json'));
    cpSync(join(packageRoot, 'dist'), join(pkg, 'dist'), { recursive: true });
    // The runtime dependencies (not the dev ones) from the lockfile.
    const lock = JSON.parse(readFileSync(join(packageRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean }>;
    };
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (!path.startsWith('node_modules/') || entry.dev || path.includes('/node_modules/', 1)) continue;
      // Optional packages for other platforms (esbuild's binaries) are not installed.
      if (entry.optional && !existsSync(join(packageRoot, path))) continue;
      cpSync(join(packageRoot, path), join(pkg, path), { recursive: true });
    }
    cpSync(
      join(packageRoot, 'src', 'common', 'ext4', 'ext2fs.wasm'),
      join(pkg, 'src', 'common', 'ext4', 'ext2fs.wasm'),
    );
    const src = join(shared, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'data.bin'), pattern(100_000, 5));
    mkdirSync(join(shared, 'tmp'));
    readableByAll(shared);
    chmodSync(join(shared, 'tmp'), 0o1777);
    const asRoot = join(shared, 'root.img');
    assert.equal((await runCli(['image', 'build', '--from', src, '-o', asRoot])).code, 0);
    const out = join(shared, 'out');
    mkdirSync(out);
    chmodSync(out, 0o777);
    const asNobody = join(out, 'nobody.img');
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        join(pkg, 'dist', 'cli.js'),
      ].concat(['image', 'build', '--from', src, '-o', asNobody]),
      {
        encoding: 'utf8',
        cwd: shared,
        env: { PATH: '/usr/bin:/bin', HOME: shared, TMPDIR: join(shared, 'tmp') },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readFileSync(asNobody).equals(readFileSync(asRoot)));
  });

  it('builds with the built-in libext2fs when asked (the fallback without e2fsprogs)', async (t) => {
    if (!requireTools(t, 'debugfs')) return;
    const img = join(dir, 'lib.img');
    const r = await runCli(['image', 'build', '--from', source(), '-o', img, '--ext4-builder', 'libext2fs']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /ext4 by libext2fs/);
    assert.equal((await runCli(['image', 'verify', img])).code, 0);
    const info = JSON.parse((await runCli(['image', 'inspect', img, '--json'])).stdout) as ImageInfo;
    assert.equal(info.ext4?.freeInodes, (info.ext4?.inodes ?? 0) - 12);
  });

  it('cloister run opens a built encrypted image (passphrase file with CRLF) and runs a program from it', async (t) => {
    if (!requireTools(t, ...TOOLS)) return;
    const app = join(dir, 'app');
    mkdirSync(join(app, 'bin'), { recursive: true });
    copyFileSync(join(packageRoot, 'examples', 'sqlite3.wasm'), join(app, 'bin', 'sqlite3.wasm'));
    const pass = join(dir, 'crlf.txt');
    writeFileSync(pass, 'pw\r\n');
    const img = join(dir, 'run.img');
    const built = await runCli(
      ['image', 'build', '--from', app, '-o', img, '--encrypt', '--passphrase-file', pass].concat([
        '--pbkdf',
        'pbkdf2',
        '--pbkdf-iterations',
        '1000',
      ]),
    );
    assert.equal(built.code, 0, built.stderr);
    const r = await runCli([
      'run',
      img,
      '--passphrase-file',
      pass,
      '--',
      '/bin/sqlite3.wasm',
      ':memory:',
      "select 'from the image';",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from the image\n');
  });

  it('usage errors exit with 2 and one line', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['image', 'build', '--from', dir],
        /^cloister: error: required option '-o, --output <IMG>' not specified$/,
      ],
      [
        ['image', 'build', '--from', dir, '-o', 'x.img', '--encrypt'],
        /--encrypt needs --key-file or --passphrase-file/,
      ],
      [
        ['image', 'build', '--from', join(dir, 'nope'), '-o', 'x.img'],
        /--from .*nope: no such file or directory/,
      ],
      [
        ['image', 'build', '--from', dir, '-o', 'x.img', '--source-date-epoch', 'soon'],
        /--source-date-epoch must be/,
      ],
      [['image', 'build', '--from', dir, '-o', 'x.img', '--size', 'big'], /--size: cannot read "big"/],
      [['image', 'verify', join(dir, 'nope.img')], /nope\.img: no such file/],
      [['image', 'verify', dir, '--root-hash', 'xyz'], /--root-hash must be 64 hex digits/],
      [['image', 'inspect'], /^cloister: error: missing required argument 'IMG'$/],
      [
        ['image', 'build', '--from', dir, '-o', 'x.img', '--ext4-builder', 'genext2fs'],
        /^cloister: error: option '--ext4-builder <WHO>' argument 'genext2fs' is invalid/,
      ],
      [
        ['image', 'build', '--from', dir, '-o', 'x.img', '--bogus'],
        /^cloister: error: unknown option '--bogus'$/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      oneLineError(r.stderr, pattern);
    }
  });

  it('a hostile archive is refused with one line and status 1', async (t) => {
    if (!requireTools(t, ...TOOLS)) return;
    const evil = join(dir, 'evil.tar');
    writeFileSync(evil, tar({ name: 'ok', data: 'x' }, { name: 'a/../../etc/cron.d/x', data: 'x' }));
    const r = await runCli(['image', 'build', '--from', evil, '-o', join(dir, 'evil.img')]);
    assert.equal(r.code, 1);
    oneLineError(r.stderr, /^cloister: error: entry "a\/\.\.\/\.\.\/etc\/cron\.d\/x": '\.\.' in the path$/);
  });
});
