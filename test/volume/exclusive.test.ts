// Exclusive use of a volume: a second `cloister run` on a volume in use is refused before it reads
// anything (naming the holder's pid), the first run finishes with the volume intact, and a lock left
// by a killed run is taken over.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lockVolume, VolumeInUseError } from '../../src/cli/volume-lock.ts';
import { cliPath, runCli } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-volume-lock-'));
const volume = join(dir, 'data.vol');
const key = join(dir, 'vol.key');
const children: ChildProcess[] = [];

const argsFor = (spec: string) => [
  'run',
  '--volume',
  spec,
  '--volume-key-file',
  key,
  'examples/sqlite3.wasm',
];
const runArgs = argsFor(`${volume}::/data`);
const sqlite = (sql: string, db = '/data/db.sqlite') => runCli([...runArgs, db], { input: sql });
/** A read-only run: SQLite opens the database immutable (no lock files on a read-only file system). */
const readOnlyArgs = [...argsFor(`${volume}::/data:ro`), 'file:/data/db.sqlite?immutable=1'];

/** A run that holds the volume until its stdin ends; resolves once the program has answered. */
async function holdingRun(
  args = [...runArgs, '/data/db.sqlite'],
  first = "insert into notes values ('from the first run');\n",
): Promise<{ child: ChildProcess; pid: number; done: Promise<string> }> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string>((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`)))),
  );
  child.stdin?.write(`${first}select 'ready';\n`);
  const deadline = Date.now() + 60_000;
  while (!out.includes('ready')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`first run did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, pid: child.pid as number, done };
}

describe('a volume is used by one run at a time', () => {
  before(async () => {
    writeFileSync(key, `${'cd'.repeat(32)}\n`);
    const made = await runCli(['volume', 'create', volume, '--size', '8M', '--key-file', key]);
    assert.equal(made.code, 0, made.stderr);
    const r = await sqlite("create table notes(body); insert into notes values ('created');\n");
    assert.equal(r.code, 0, r.stderr);
  });

  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a second run while the first holds the volume; the first finishes, the volume is intact', async () => {
    const first = await holdingRun();
    const before = readFileSync(volume);
    const second = await sqlite("insert into notes values ('from the second run');\n");
    assert.equal(second.code, 1);
    assert.match(
      second.stderr,
      new RegExp(`cloister: error: volume ${volume} is in use by pid ${first.pid}\\n`),
    );
    assert.ok(readFileSync(volume).equals(before), 'the refused run wrote nothing');
    first.child.stdin?.end("insert into notes values ('still the first run');\n");
    await first.done;
    assert.equal(existsSync(`${volume}.lock`), false, 'the lock is released at the end');
    const reopened = await sqlite('select body from notes order by rowid;\n');
    assert.equal(reopened.code, 0, reopened.stderr);
    assert.equal(reopened.stdout, 'created\nfrom the first run\nstill the first run\n');
  });

  it('lets read-only runs (VOLUME::GUEST:ro) share a volume, never with a writer', async () => {
    const reader = await holdingRun(readOnlyArgs, '');
    const second = await runCli(readOnlyArgs, { input: 'select count(*) from notes;\n' });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, '3\n', 'a second reader runs beside the first');
    const writer = await sqlite("insert into notes values ('refused');\n");
    assert.equal(writer.code, 1);
    assert.match(writer.stderr, new RegExp(`volume ${volume} is in use by pid ${reader.pid}\n`));
    reader.child.stdin?.end('select count(*) from notes;\n');
    assert.equal(await reader.done, 'ready\n3\n');
    const writing = await holdingRun(undefined, '');
    const refused = await runCli(readOnlyArgs, { input: 'select 1;\n' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`volume ${volume} is in use by pid ${writing.pid}\n`));
    writing.child.stdin?.end();
    await writing.done;
    const readonly = await runCli(readOnlyArgs, { input: "insert into notes values ('no');\n" });
    assert.match(readonly.stderr, /attempt to write a readonly database/);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes('.lock')),
      [],
      'every reader and writer lock is gone',
    );
  });

  it('takes over the lock of a run that was killed', async () => {
    const first = await holdingRun();
    first.child.kill('SIGKILL');
    await first.done.catch(() => {});
    assert.match(
      readFileSync(`${volume}.lock`, 'latin1'),
      new RegExp(`^${first.pid} `),
      'a stale lock remains',
    );
    // SQLite's own lock directory inside the volume survives the kill as well: open without it.
    const next = await sqlite(
      "select count(*) from notes where body = 'from the first run';\n",
      'file:/data/db.sqlite?nolock=1',
    );
    assert.equal(next.code, 0, next.stderr);
    assert.equal(next.stdout, '2\n', 'the killed run committed its statement before it was killed');
    await sqlite(
      'delete from notes where rowid = (select max(rowid) from notes);\n',
      'file:/data/db.sqlite?nolock=1',
    );
    assert.equal(existsSync(`${volume}.lock`), false);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes('.lock')),
      [],
      'no lock drafts or stale copies remain',
    );
  });

  it('tells a live holder from a dead one and from a reused pid', () => {
    const target = join(dir, 'unit.vol');
    const held = lockVolume(target);
    assert.throws(
      () => lockVolume(target),
      (e) => e instanceof VolumeInUseError && e.pid === process.pid,
    );
    held.release();
    held.release();
    // A process that has exited: its lock is stale.
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const token = 'ab'.repeat(16);
    writeFileSync(`${target}.lock`, `${gone.stdout.toString()} 1 ${token}\n`);
    lockVolume(target).release();
    // Our own pid with another start time: a later process reusing the pid of a dead holder.
    writeFileSync(`${target}.lock`, `${process.pid} 1 ${token}\n`);
    lockVolume(target).release();
    // Readers share; a writer is refused while one lives, and removes a dead one's file.
    const r1 = lockVolume(target, { shared: true });
    const r2 = lockVolume(target, { shared: true });
    assert.throws(() => lockVolume(target), VolumeInUseError);
    r1.release();
    r2.release();
    writeFileSync(`${target}.lock.reader-${token}`, `${gone.stdout.toString()} 1 ${token}\n`);
    lockVolume(target).release();
    assert.equal(existsSync(`${target}.lock.reader-${token}`), false, 'a dead reader is cleared');
    // Something that is not a lock is not removed.
    writeFileSync(`${target}.lock`, 'hello\n');
    assert.throws(() => lockVolume(target), /not a volume lock/);
    assert.equal(readFileSync(`${target}.lock`, 'latin1'), 'hello\n');
    rmSync(`${target}.lock`);
  });
});
