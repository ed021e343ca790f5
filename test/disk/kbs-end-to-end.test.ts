// The key broker end to end: an encrypted image whose key only the KBS holds, released to the
// enclave whose measurement the policy names, and refused (with the reason logged) when one byte
// of the configuration changes. The key never appears in the host's shared buffers or on disk.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { planLaunch } from '../../src/cli/launch-plan.ts';
import { deriveVolumeKeys } from '../../src/common/volume/keys.ts';
import { readVolumeInfo } from '../../src/image/volume-format.ts';
import { launch } from '../../src/host/launcher.ts';
import { cliPath, runCli, tempDir } from '../helpers/cli.ts';
import { requireTool, run } from '../storage/helpers/tools.ts';

const dir = tempDir('cloister-kbs-e2e-');
const env = { CLOISTER_SIM_PLATFORM: join(dir, 'platform.json') };
const image = join(dir, 'enc.img');
const diskKey = Buffer.from('a-disk-key-only-the-kbs-releases', 'utf8');
const volume = join(dir, 'data.vol');
const volumeKey = randomBytes(32);
// The run that checks host memory also writes to an encrypted volume.
// A volume with --kbs needs the broker's key, which signs its rollback counters.
const volumeOptions = {
  volume: [`${volume}::/data`],
  volumeKeyFile: [join(dir, 'volume.key')],
  kbsKey: join(dir, 'broker.jwk'),
};
const volumeProgram = [
  '--',
  '/bin/sqlite3.wasm',
  '/data/t.db',
  "create table t(x); insert into t values ('through the volume'); select x from t;",
];
let server: ChildProcess | undefined;
let url = '';
const kbsLog: string[] = [];
const runArgs = (extra: string[] = []) => [
  'run',
  image,
  ...extra,
  '--kbs',
  url,
  '--resource',
  'default/disk/app',
  '--',
  '/bin/sqlite3.wasm',
];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as { port: number }).port;
      probe.close(() => resolve(port));
    });
  });
}

describe('key broker release of a disk key', () => {
  before(async () => {
    process.env.CLOISTER_SIM_PLATFORM = env.CLOISTER_SIM_PLATFORM;
    mkdirSync(join(dir, 'rootfs/bin'), { recursive: true });
    copyFileSync('examples/sqlite3.wasm', join(dir, 'rootfs/bin/sqlite3.wasm'));
    writeFileSync(join(dir, 'disk.key'), diskKey);
    const built = await runCli([
      'image',
      'build',
      '--from',
      join(dir, 'rootfs'),
      '-o',
      image,
      '--encrypt',
      '--key-file',
      join(dir, 'disk.key'),
      '--pbkdf',
      'pbkdf2',
      '--pbkdf-iterations',
      '1000',
    ]);
    assert.equal(built.code, 0, built.stderr);
    const db = join(dir, 'kbs.sqlite');
    assert.equal(
      (await runCli(['kbs', 'put', 'default/disk/app', '--file', join(dir, 'disk.key'), '--db', db], { env }))
        .code,
      0,
    );
    // The sim platform (its root CA) exists once anything has used it.
    assert.equal((await runCli(['attest', 'collateral', '-o', join(dir, 'coll.json')], { env })).code, 0);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const measured = await runCli(['measure', ...runArgs().slice(1)], { env });
    assert.equal(measured.code, 0, measured.stderr);
    const scripted = await runCli(['measure', ...runArgs().slice(1), ':memory:', 'select 1;'], { env });
    writeFileSync(join(dir, 'volume.key'), volumeKey.toString('hex'));
    const brokerKey = await runCli(['kbs', 'public-key', '--db', db, '-o', volumeOptions.kbsKey], { env });
    assert.equal(brokerKey.code, 0, brokerKey.stderr);
    const created = await runCli([
      'volume',
      'create',
      volume,
      '--size',
      '16M',
      '--key-file',
      join(dir, 'volume.key'),
    ]);
    assert.equal(created.code, 0, created.stderr);
    const withVolume = await runCli(
      [
        'measure',
        image,
        '--kbs',
        url,
        '--resource',
        'default/disk/app',
        '--volume',
        volumeOptions.volume[0],
        '--volume-key-file',
        volumeOptions.volumeKeyFile[0],
        '--kbs-key',
        volumeOptions.kbsKey,
        ...volumeProgram,
      ],
      {
        env,
      },
    );
    assert.equal(withVolume.code, 0, withVolume.stderr);
    writeFileSync(
      join(dir, 'policy.json'),
      JSON.stringify({
        mrenclave: [measured.stdout.trim(), scripted.stdout.trim(), withVolume.stdout.trim()],
      }),
    );
    server = spawn(
      process.execPath,
      [
        cliPath,
        'kbs',
        'serve',
        '--db',
        db,
        '--policy',
        join(dir, 'policy.json'),
        '--trust-sim-root',
        '--port',
        String(port),
      ],
      {
        env: { ...process.env, ...env },
      },
    );
    server.stderr?.on('data', (d: Buffer) => kbsLog.push(d.toString()));
    await new Promise<void>((resolve, reject) => {
      server?.stderr?.on('data', () => kbsLog.join('').includes('listening') && resolve());
      server?.on('exit', (code) => reject(new Error(`kbs exited ${code}: ${kbsLog.join('')}`)));
    });
  });

  // Waits for the broker to exit: it writes its database while it stops, and the directory is
  // removed right after this hook.
  after(async () => {
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((resolve) => server?.once('exit', resolve));
    server.kill();
    await exited;
  });

  it('releases the key to the measured enclave, which then runs from the image', async () => {
    const r = await runCli(runArgs(), { input: "select 'unlocked by the key broker';\n", env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'unlocked by the key broker\n');
    assert.match(kbsLog.join(''), /release default\/disk\/app/);
  });

  it('refuses an enclave whose configuration differs by one byte, and says why', async () => {
    const r = await runCli(runArgs(['--env', 'X=1']), { input: "select 'should not run';\n", env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '', 'the program never starts');
    assert.match(
      r.stderr,
      /cloister: error: key broker refused: KBS 401 policy-refused: .*MRENCLAVE [0-9a-f]{64} is not allowed/,
    );
    assert.match(kbsLog.join(''), /refuse .*policy-refused/);
  });

  it('a host that corrupts the attestation and key-release calls gets no key and no run', async () => {
    for (const call of ['quote', 'net_fetch']) {
      for (const fault of ['errno', 'length', 'wrong-request']) {
        const run = runCli(runArgs(), {
          input: "select 'should not run';\n",
          env: { ...env, CLOISTER_HOST_FAULT: `${call}:${fault}` },
        });
        let timer: NodeJS.Timeout | undefined;
        const bound = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${call}:${fault}: no end in 30 s`)), 30_000);
        });
        const r = await Promise.race([run, bound]).finally(() => clearTimeout(timer));
        const what = `${call}:${fault}: ${r.stderr}`;
        assert.equal(r.code, 1, what);
        assert.equal(r.stdout, '', `${what}: the program never starts`);
        assert.match(r.stderr, /^cloister: error: /m, what);
        assert.doesNotMatch(r.stderr, /\n\s+at |TypeError|RangeError|Uncaught/, `${what}: crashed`);
      }
    }
  });

  it('never shows a key to the host: not the disk key, the LUKS2 volume key or the volume keys, in shared memory or on disk', async (t) => {
    if (!requireTool(t, 'cryptsetup')) return;
    // The LUKS2 volume (master) key, as cryptsetup recovers it from the header with the disk key.
    const keyOut = join(dir, 'luks-volume-key');
    run('cryptsetup', [
      'luksDump',
      '--dump-volume-key',
      '--volume-key-file',
      keyOut,
      '--key-file',
      join(dir, 'disk.key'),
      '--batch-mode',
      image,
    ]);
    const luksKey = readFileSync(keyOut);
    assert.equal(luksKey.length, 64, 'aes-xts-plain64 with two 256-bit keys');
    const derived = deriveVolumeKeys(
      volumeKey,
      Buffer.from(readVolumeInfo(volume).uuid.replace(/-/g, ''), 'hex'),
    );
    const secrets: [string, Uint8Array][] = [
      ['the disk key', diskKey],
      ['the LUKS2 volume key', luksKey],
      ['the first half of the LUKS2 volume key', luksKey.subarray(0, 32)],
      ['the second half of the LUKS2 volume key', luksKey.subarray(32)],
      ['the volume key', volumeKey],
      ["the volume's data key", derived.data],
      ["the volume's superblock key", derived.superblock],
    ];
    const plan = await planLaunch(image, volumeProgram, {
      kbs: url,
      resource: 'default/disk/app',
      ...volumeOptions,
    });
    const generation = readVolumeInfo(volume).generation;
    const result = await launch(plan);
    assert.equal(result.status, 0, result.message);
    assert.ok(readVolumeInfo(volume).generation > generation, 'the program wrote through the volume');
    assert.ok(result.hostVisibleMemory.length > 0);
    for (const memory of result.hostVisibleMemory) {
      for (const [name, secret] of secrets)
        assert.equal(Buffer.from(memory).indexOf(secret), -1, `${name} is not in any buffer the host shares`);
    }
    for (const file of [image, volume, join(dir, 'kbs.sqlite')]) {
      const bytes = readFileSync(file);
      for (const [name, secret] of secrets)
        assert.equal(bytes.indexOf(secret), -1, `${name} is not in ${file}`);
    }
  });
});
