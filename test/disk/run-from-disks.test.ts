// `cloister run` from shielded disks, end to end through the CLI: a root image built by
// `cloister image build` or by the standard tools, writable volumes, and a host that tampers.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { MemoryBlockDevice } from '../../src/common/blockdev/memory.ts';
import { openVolume } from '../../src/common/volume/volume.ts';
import { readVolumeKey } from '../../src/cli/disk-options.ts';
import { spawn } from 'node:child_process';
import { cliPath, runCli, sharedDir, tempDir } from '../helpers/cli.ts';
import { requireTool, run } from '../storage/helpers/tools.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

const dir = tempDir('cloister-disk-');
const image = join(dir, 'app.img');
const volumeKey = join(dir, 'vol.key');
const sqlite = (extra: string[], volume: string, sql: string) =>
  runCli(
    [
      'run',
      image,
      '--volume',
      `${volume}::/data`,
      '--volume-key-file',
      volumeKey,
      '--env',
      'HOME=/data',
      ...extra,
      '--',
      '/bin/sqlite3.wasm',
      '/data/db.sqlite',
    ],
    { input: sql },
  );

/** Decrypts a volume into a plain ext4 file (as the enclave sees it) for e2fsck and debugfs. */
function decryptVolume(volume: string): string {
  const dev = openVolume(
    new MemoryBlockDevice(new Uint8Array(readFileSync(volume)), 4096),
    readVolumeKey(volumeKey),
    {
      readOnly: true,
    },
  );
  const plain = join(dir, `plain-${Date.now()}.ext4`);
  writeFileSync(plain, readBlocks(dev, 0, dev.blockCount));
  return plain;
}

async function newVolume(name: string, size = '16M'): Promise<string> {
  const path = join(dir, name);
  const r = await runCli(['volume', 'create', path, '--size', size, '--key-file', volumeKey]);
  assert.equal(r.code, 0, r.stderr);
  return path;
}

describe('running from a root image with a writable volume', () => {
  before(async () => {
    mkdirSync(join(dir, 'rootfs/bin'), { recursive: true });
    copyFileSync('examples/sqlite3.wasm', join(dir, 'rootfs/bin/sqlite3.wasm'));
    writeFileSync(volumeKey, `${'ab'.repeat(32)}\n`);
    const r = await runCli(['image', 'build', '--from', join(dir, 'rootfs'), '-o', image]);
    assert.equal(r.code, 0, r.stderr);
  });

  it('keeps the data across restarts, and leaves an ext4 that e2fsck and debugfs accept', async (t) => {
    if (!requireTool(t, 'e2fsck') || !requireTool(t, 'debugfs') || !requireTool(t, 'mke2fs')) return;
    const volume = await newVolume('data.vol');
    const first = await sqlite(
      [],
      volume,
      "create table notes(body); insert into notes values ('kept inside');\n",
    );
    assert.equal(first.code, 0, first.stderr);
    const again = await sqlite([], volume, 'select body from notes; pragma page_count; pragma page_size;\n');
    assert.equal(again.code, 0, again.stderr);
    const [body, pages, pageSize] = again.stdout.trim().split('\n');
    assert.equal(body, 'kept inside');
    const plain = decryptVolume(volume);
    run('e2fsck', ['-fn', plain]);
    const listing = run('debugfs', ['-R', 'ls -l /', plain]);
    const size = Number(/\s(\d+)\s+\S+\s+\S+\s+db\.sqlite\s*$/m.exec(listing)?.[1]);
    assert.equal(size, Number(pages) * Number(pageSize), listing);
    assert.ok(
      !readFileSync(volume).includes(Buffer.from('kept inside')),
      'the host never sees the plaintext',
    );
  });

  it('detects an old block replayed by the host', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const volume = await newVolume('replay.vol');
    assert.equal((await sqlite([], volume, "create table t(x); insert into t values ('v1');\n")).code, 0);
    const old = readFileSync(volume);
    assert.equal((await sqlite([], volume, "update t set x = 'v2';\n")).code, 0);
    const current = readFileSync(volume);
    let replayed = 0;
    for (let off = 8192; off < current.length; off += 4096) {
      const a = old.subarray(off, off + 4096);
      if (!a.equals(current.subarray(off, off + 4096)) && a.some((b) => b !== 0)) {
        current.set(a, off);
        replayed++;
      }
    }
    assert.ok(replayed > 0, 'some blocks changed between the two runs');
    writeFileSync(volume, current);
    const r = await sqlite([], volume, 'select x from t;\n');
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, /v1/, 'the old data is never returned');
    assert.match(r.stderr, /does not match|integrity|I\/O error/);
  });

  it('refuses a tampered image, naming the block, and a wrong volume key', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const volume = await newVolume('keys.vol');
    const wrongKey = join(dir, 'wrong.key');
    writeFileSync(wrongKey, 'cd'.repeat(32));
    const wrong = await runCli(
      [
        'run',
        image,
        '--volume',
        `${volume}::/data`,
        '--volume-key-file',
        wrongKey,
        '--',
        '/bin/sqlite3.wasm',
      ],
      {
        input: 'select 1;\n',
      },
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /cloister: error: volume .*: wrong key or passphrase/);

    const tampered = join(dir, 'tampered.img');
    copyFileSync(image, tampered);
    copyFileSync(`${image}.json`, `${tampered}.json`);
    const bytes = readFileSync(tampered);
    bytes[200_000] ^= 0x40;
    writeFileSync(tampered, bytes);
    const r = await runCli(['run', tampered, '--', '/bin/sqlite3.wasm'], { input: 'select 1;\n' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /dm-verity: data block \d+ does not match its hash/);
    assert.equal(r.stdout, '');
  });

  it('changes the measurement with the root hash', async () => {
    const other = join(dir, 'other.img');
    mkdirSync(join(dir, 'rootfs2/bin'), { recursive: true });
    copyFileSync('examples/sqlite3.wasm', join(dir, 'rootfs2/bin/sqlite3.wasm'));
    writeFileSync(join(dir, 'rootfs2/extra.txt'), 'one more file');
    assert.equal((await runCli(['image', 'build', '--from', join(dir, 'rootfs2'), '-o', other])).code, 0);
    const a = await runCli(['measure', image, '--', '/bin/sqlite3.wasm']);
    const b = await runCli(['measure', other, '--', '/bin/sqlite3.wasm']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^[0-9a-f]{64}\n$/);
    assert.notEqual(a.stdout, b.stdout);
  });

  it('gives ENOSPC to the program when the volume is full, and stays consistent', async (t) => {
    if (!requireTool(t, 'e2fsck') || !requireTool(t, 'mke2fs')) return;
    const volume = await newVolume('small.vol', '2M');
    const r = await sqlite(
      [],
      volume,
      'create table big(x); insert into big select randomblob(4000) from generate_series(1, 2000);\n',
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /database or disk is full/);
    run('e2fsck', ['-fn', decryptVolume(volume)]);
  });
});

describe('running images made by the standard tools', () => {
  it('opens mke2fs -> cryptsetup reencrypt -> veritysetup format with --root-hash and --hash-offset', async (t) => {
    for (const tool of ['mke2fs', 'debugfs', 'cryptsetup', 'veritysetup']) if (!requireTool(t, tool)) return;
    const img = join(dir, 'tools.img');
    writeFileSync(img, new Uint8Array(8 << 20));
    run('mke2fs', ['-q', '-t', 'ext4', '-b', '4096', '-F', img, '6M']);
    run('debugfs', ['-w', '-R', 'mkdir bin', img]);
    run('debugfs', ['-w', '-R', `write examples/sqlite3.wasm bin/sqlite3.wasm`, img]);
    const kdf = ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000'];
    run(
      'cryptsetup',
      [
        'reencrypt',
        '--encrypt',
        '--type',
        'luks2',
        '-q',
        '--reduce-device-size',
        '2M',
        ...kdf,
        '--key-file',
        '-',
        img,
      ],
      'tool secret',
    );
    const luksSize = statSync(img).size;
    truncateSync(img, luksSize + (1 << 20));
    const out = run('veritysetup', [
      'format',
      '--hash-offset',
      String(luksSize),
      '--data-blocks',
      String(luksSize / 4096),
      img,
      img,
    ]);
    const rootHash = /Root hash:\s+([0-9a-f]{64})/.exec(out)?.[1] ?? '';
    const keyFile = join(dir, 'tool.key');
    writeFileSync(keyFile, 'tool secret');
    const r = await runCli(
      [
        'run',
        img,
        '--root-hash',
        rootHash,
        '--hash-offset',
        String(luksSize),
        '--key-file',
        keyFile,
        '--',
        '/bin/sqlite3.wasm',
      ],
      { input: "select 'opened ' || sqlite_version();\n" },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^opened 3\./);
    writeFileSync(keyFile, 'not the secret');
    const wrong = await runCli(
      [
        'run',
        img,
        '--root-hash',
        rootHash,
        '--hash-offset',
        String(luksSize),
        '--key-file',
        keyFile,
        '--',
        '/bin/sqlite3.wasm',
      ],
      { input: 'select 1;\n' },
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /cloister: error: root image: wrong key or passphrase/);
    const badHash = await runCli([
      'run',
      img,
      '--root-hash',
      '0'.repeat(64),
      '--hash-offset',
      String(luksSize),
      '--key-file',
      keyFile,
      '--',
      '/bin/x',
    ]);
    assert.equal(badHash.code, 1);
    assert.match(badHash.stderr, /cloister: error: root image: dm-verity: /);
  });
});

describe('plain ext4 with the hash tree in its own file', () => {
  it('runs with --root-hash and --hash-file, 1 KiB verity blocks', async (t) => {
    for (const tool of ['mke2fs', 'debugfs', 'veritysetup']) if (!requireTool(t, tool)) return;
    const img = join(dir, 'plain.img');
    const hashes = join(dir, 'plain.hash');
    writeFileSync(img, new Uint8Array(6 << 20));
    run('mke2fs', ['-q', '-t', 'ext4', '-b', '4096', '-F', img]);
    run('debugfs', ['-w', '-R', 'mkdir bin', img]);
    run('debugfs', ['-w', '-R', 'write examples/sqlite3.wasm bin/sqlite3.wasm', img]);
    const out = run('veritysetup', [
      'format',
      '--data-block-size',
      '1024',
      '--hash-block-size',
      '1024',
      img,
      hashes,
    ]);
    const rootHash = /Root hash:\s+([0-9a-f]{64})/.exec(out)?.[1] ?? '';
    const r = await runCli(
      ['run', img, '--root-hash', rootHash, '--hash-file', hashes, '--', '/bin/sqlite3.wasm'],
      {
        input: "select 'from a separate tree';\n",
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from a separate tree\n');
  });
});

describe('crashes and real workloads on a volume', () => {
  it('after kill -9 at many points the database is intact and holds every acknowledged commit', async (t) => {
    if (!requireTool(t, 'e2fsck') || !requireTool(t, 'mke2fs') || !requireTool(t, 'debugfs')) return;
    const volume = await newVolume('crash.vol');
    // A killed writer leaves SQLite's lock directory behind in the volume; nolock=1 opens past it
    // (one process at a time uses the database here).
    const db = 'file:/data/db.sqlite?nolock=1';
    const shell = (extra: string[] = []) => [
      'run',
      image,
      '--volume',
      `${volume}::/data`,
      '--volume-key-file',
      volumeKey,
      '--env',
      'HOME=/data',
      ...extra,
      '--',
      '/bin/sqlite3.wasm',
      db,
    ];
    const created = await runCli(shell(), { input: 'create table log(n integer primary key, pad blob);\n' });
    assert.equal(created.code, 0, created.stderr);
    // Each statement is a transaction: the next n, then it is printed (after its commit returned).
    // TRUNCATE journal mode commits with a sync of the journal. DELETE mode commits by unlinking the
    // journal, which only synchronous=EXTRA makes durable, with an fsync of the directory: that fsync
    // must commit the volume, or a kill right after rolls the acknowledged commit back.
    const statements =
      'insert into log select coalesce(max(n) + 1, 0), randomblob(900) from log; select max(n) from log;\n'.repeat(
        3000,
      );
    // Killed before any commit was acknowledged, then after 1, 4, 15 and 40 acknowledged commits.
    const runs = [
      ...[0, 1, 4, 15, 40].map((point) => ({ point, mode: 'pragma journal_mode = truncate;\n' })),
      ...[3, 12].map((point) => ({
        point,
        mode: 'pragma journal_mode = delete; pragma synchronous = extra;\n',
      })),
    ];
    const acknowledgedIn = (text: string) => text.split('\n').filter((line) => /^\d+$/.test(line));
    for (const { point, mode } of runs) {
      const child = spawn(process.execPath, [cliPath, ...shell()]);
      let out = '';
      const killed = new Promise<void>((resolve) => {
        const kill = () => {
          child.kill('SIGKILL');
          resolve();
        };
        const bound = setTimeout(kill, point === 0 ? 400 : 60_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (point > 0 && acknowledgedIn(out).length >= point) {
            clearTimeout(bound);
            kill();
          }
        });
        child.on('close', () => {
          clearTimeout(bound);
          resolve();
        });
      });
      child.stdin.on('error', () => {});
      child.stdin.end(mode + statements);
      child.stderr.resume();
      await killed;
      await new Promise((r) =>
        child.exitCode !== null || child.signalCode !== null ? r(0) : child.on('close', r),
      );
      const acknowledged = acknowledgedIn(out);
      const lastAcknowledged = acknowledged.length ? Number(acknowledged[acknowledged.length - 1]) : -1;
      // The volume opens to its last commit (openVolume verifies the whole tree) and e2fsck finds the ext4 clean.
      const plain = decryptVolume(volume);
      run('e2fsck', ['-fn', plain]);
      assert.match(run('debugfs', ['-R', 'ls /', plain]), /db\.sqlite/);
      const check = await runCli(shell(), {
        input:
          'pragma integrity_check; select count(*), coalesce(max(n), -1), coalesce(min(n), 0) from log;\n',
      });
      assert.equal(check.code, 0, `kill point ${point}: ${check.stderr}`);
      const [integrity, counts] = check.stdout.trim().split('\n');
      assert.equal(integrity, 'ok', `kill point ${point}`);
      const [count, max, min] = counts.split('|').map(Number);
      // Committed transactions form a prefix: n = 0 .. count-1, no gaps, none torn.
      assert.deepEqual([min, max], [0, count - 1], `kill point ${point}: ${counts}`);
      assert.ok(
        count >= lastAcknowledged + 1,
        `kill point ${point}: ${count} rows, commit ${lastAcknowledged} was acknowledged`,
      );
      assert.ok(
        point === 0 || acknowledged.length >= point,
        `kill point ${point}: only ${acknowledged.length} commits ran`,
      );
    }
  });

  it('runs speedtest1 --size 25 with its database on a volume', { timeout: 180_000 }, async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const volume = await newVolume('speed.vol', '64M');
    const r = await runCli([
      'run',
      '--tmpfs',
      '/tmp',
      '--volume',
      `${volume}::/data`,
      '--volume-key-file',
      volumeKey,
      join(sharedDir, 'bench/speedtest1-nolock.wasm'),
      '--size',
      '25',
      '/data/speed.db',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /TOTAL/);
  });
});

describe('the --overlay layer', () => {
  it('lets the program write over the read-only root, in enclave memory only', async () => {
    const dir2 = tempDir('cloister-overlay-');
    mkdirSync(join(dir2, 'rootfs/bin'), { recursive: true });
    copyFileSync('examples/sqlite3.wasm', join(dir2, 'rootfs/bin/sqlite3.wasm'));
    writeFileSync(join(dir2, 'rootfs/motd'), 'from the image\n');
    const img = join(dir2, 'o.img');
    assert.equal((await runCli(['image', 'build', '--from', join(dir2, 'rootfs'), '-o', img])).code, 0);
    const before = readFileSync(img);
    const sql =
      "select writefile('/motd', 'changed inside'); select readfile('/motd'); create table t(x); insert into t values (1); select count(*) from t;\n";
    const ro = await runCli(['run', img, '--env', 'HOME=/', '--', '/bin/sqlite3.wasm', '/new.db'], {
      input: sql,
    });
    assert.notEqual(ro.code, 0, 'without --overlay the root is read-only');
    const rw = await runCli(
      ['run', img, '--overlay', '--env', 'HOME=/', '--', '/bin/sqlite3.wasm', '/new.db'],
      { input: sql },
    );
    assert.equal(rw.code, 0, rw.stderr);
    assert.equal(rw.stdout, '14\nchanged inside\n1\n');
    assert.ok(readFileSync(img).equals(before), 'the image is never written');
    const again = await runCli(['run', img, '--overlay', '--', '/bin/sqlite3.wasm'], {
      input: "select readfile('/motd');\n",
    });
    assert.equal(again.stdout, 'from the image\n\n', 'the overlay lives only as long as the run');
  });
});
