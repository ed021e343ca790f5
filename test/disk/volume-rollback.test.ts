// Rollback protection through the CLI: `cloister run --kbs URL --kbs-key broker.jwk --volume ...`
// records each commit's generation with the key broker; an older copy of the volume file put back by
// the host is refused with both generations named, and so is a volume whose newest superblock was
// damaged (the broker does not agree that the older copy is current).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSuperblock } from '../../src/common/volume/superblock.ts';
import { cliPath, runCli } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-volume-rollback-'));
const env = { CLOISTER_SIM_PLATFORM: join(dir, 'platform.json') };
const db = join(dir, 'kbs.sqlite');
const volume = join(dir, 'data.vol');
const volumeKey = join(dir, 'vol.key');
const brokerKey = join(dir, 'broker.jwk');
let server: ChildProcess | undefined;
let url = '';
const kbsLog: string[] = [];
const children: ChildProcess[] = [];

const runArgs = (extra: string[] = [], database = '/data/db.sqlite') => [
  'run',
  '--volume',
  `${volume}::/data`,
  '--volume-key-file',
  volumeKey,
  '--kbs',
  url,
  ...extra,
  'examples/sqlite3.wasm',
  database,
];
const sqlite = (sql: string, extra: string[] = [], database?: string) =>
  runCli(runArgs(extra, database), { input: sql, env });
/** SQLite's own lock directory outlives a run that failed: the database opened without it. */
const NOLOCK = 'file:/data/db.sqlite?nolock=1';

async function startServer(): Promise<void> {
  kbsLog.length = 0;
  const child = spawn(
    process.execPath,
    [cliPath, 'kbs', 'serve', '--db', db, '--policy', join(dir, 'policy.json')].concat([
      '--trust-sim-root',
      '--port',
      url.split(':')[2],
    ]),
    { env: { ...process.env, ...env } },
  );
  server = child;
  child.stderr?.on('data', (d: Buffer) => kbsLog.push(d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', () => kbsLog.join('').includes('listening') && resolve());
    child.on('exit', (code) => reject(new Error(`kbs exited ${code}: ${kbsLog.join('')}`)));
  });
}

async function stopServer(): Promise<void> {
  const child = server;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
const generationOnDisk = (): number => {
  const raw = readFileSync(volume);
  return Math.max(
    ...[0, 1].map((u) => parseSuperblock(raw.subarray(u * 4096, (u + 1) * 4096))?.generation ?? 0),
  );
};

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as { port: number }).port;
      probe.close(() => resolve(port));
    });
  });
}

describe('rollback protection of volumes with the key broker, through the CLI', () => {
  before(async () => {
    writeFileSync(volumeKey, `${'ef'.repeat(32)}\n`);
    const keyed = await runCli(['kbs', 'public-key', '--db', db, '-o', brokerKey], { env });
    assert.equal(keyed.code, 0, keyed.stderr);
    const made = await runCli(['volume', 'create', volume, '--size', '8M', '--key-file', volumeKey]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal((await runCli(['attest', 'collateral', '-o', join(dir, 'coll.json')], { env })).code, 0);
    url = `http://127.0.0.1:${await freePort()}`;
    const measure = async (database?: string) => {
      const r = await runCli(['measure', ...runArgs(['--kbs-key', brokerKey], database).slice(1)], { env });
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    // Two measurements, one signer: both enclaves share the volume's counter.
    const policy = { mrenclave: [await measure(), await measure(NOLOCK)] };
    writeFileSync(join(dir, 'policy.json'), JSON.stringify(policy));
    await startServer();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stopServer();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a volume file put back to an older copy, naming both generations', async () => {
    const key = ['--kbs-key', brokerKey];
    const first = await sqlite("create table notes(body); insert into notes values ('one');\n", key);
    assert.equal(first.code, 0, first.stderr);
    const old = join(dir, 'old.vol');
    copyFileSync(volume, old);
    const oldGeneration = generationOnDisk();
    const second = await sqlite("insert into notes values ('two');\n", key);
    assert.equal(second.code, 0, second.stderr);
    const current = join(dir, 'current.vol');
    copyFileSync(volume, current);
    const newGeneration = generationOnDisk();
    assert.ok(newGeneration > oldGeneration, `${newGeneration} > ${oldGeneration}`);

    copyFileSync(old, volume);
    const rolledBack = await sqlite('select body from notes;\n', key);
    assert.equal(rolledBack.code, 1);
    assert.equal(rolledBack.stdout, '', 'the program never starts');
    assert.match(
      rolledBack.stderr,
      new RegExp(
        `cloister: error: volume [0-9a-f-]{36}: generation ${oldGeneration} on disk is older than generation ` +
          `${newGeneration}, the last one recorded by the key broker: the volume was rolled back`,
      ),
    );

    copyFileSync(current, volume);
    const restored = await sqlite('select body from notes;\n', key);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restored.stdout, 'one\ntwo\n');
  });

  it('falls back from a damaged newest superblock only when the broker agrees: here it does not', async () => {
    const key = ['--kbs-key', brokerKey];
    const raw = readFileSync(volume);
    const gens = [0, 1].map((u) => parseSuperblock(raw.subarray(u * 4096, (u + 1) * 4096))?.generation ?? 0);
    const newest = gens[1] > gens[0] ? 1 : 0;
    const good = Buffer.from(raw);
    raw[newest * 4096 + 70] ^= 0x01; // inside the root hash, under the MAC
    writeFileSync(volume, raw);
    const r = await sqlite('select body from notes;\n', key);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `generation ${gens[1 - newest]} on disk is older than generation ${gens[newest]}, the last one recorded by the key broker: ` +
          'the newest superblock copy is damaged, and the record does not agree that the older one is current',
      ),
    );
    writeFileSync(volume, good);
    assert.equal((await sqlite('select count(*) from notes;\n', key)).stdout, '2\n');
  });

  it('a commit the broker could not record fails the run, and never locks the user out', async () => {
    const child = spawn(process.execPath, [cliPath, ...runArgs(['--kbs-key', brokerKey])], {
      env: { ...process.env, ...env },
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin.write("insert into notes values ('three'); select 'ready';\n");
    for (const deadline = Date.now() + 60_000; !out.includes('ready');) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `the run did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await stopServer();
    child.stdin.end("insert into notes values ('four');\n");
    assert.equal(await closed, 1);
    const unrecorded = /generation (\d+) is on disk but could not be recorded/.exec(err);
    assert.ok(unrecorded, err);
    assert.match(err, /disk I\/O error/, "the program's fsync failed: it knows its statement is not durable");
    assert.match(err, /cloister: error: could not commit the volumes/);
    assert.ok(generationOnDisk() >= Number(unrecorded[1]), 'the disk is ahead of the broker');
    const down = await sqlite('select 1;\n', ['--kbs-key', brokerKey], NOLOCK);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /cloister: error: volume [0-9a-f-]{36}: key broker counter: key broker unreachable/,
    );
    await startServer();
    // Disk ahead of the broker (the crash window): accepted, recorded, and the committed rows are there.
    const after = await sqlite('select body from notes;\n', ['--kbs-key', brokerKey], NOLOCK);
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout, 'one\ntwo\nthree\n');
    const again = await sqlite('select count(*) from notes;\n', ['--kbs-key', brokerKey], NOLOCK);
    assert.equal(again.stdout, '3\n');
  });

  it('refuses --kbs with a volume but without the broker key to check its answers', async () => {
    const r = await sqlite('select 1;\n');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--kbs with --volume needs --kbs-key FILE/);
  });
});
