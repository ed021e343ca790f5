import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import initSqlJs from 'sql.js';
import { KbsStore, isResourcePath, loadMasterKey } from '../../src/kbs/store.ts';
import { DISK_KEY, startKbs } from './helpers/kbs.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-kbs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const contains = (haystack: Buffer, needle: Uint8Array): boolean =>
  haystack.indexOf(Buffer.from(needle)) >= 0;

describe('KBS store', () => {
  it('keeps resources sealed at rest, with the master key in a 0600 file', async () => {
    const file = join(dir, 'kbs.sqlite');
    const kbs = await startKbs({ file });
    assert.deepEqual(await kbs.client().getResource('default/disk/app'), DISK_KEY);
    await assert.rejects(kbs.client({ mrEnclave: '99'.repeat(32) }).getResource('default/disk/app'));
    await kbs.close();

    const bytes = readFileSync(file);
    assert.equal(bytes.subarray(0, 15).toString(), 'SQLite format 3');
    assert.ok(!contains(bytes, DISK_KEY), 'the secret is in the database file in the clear');
    assert.ok(!contains(bytes, DISK_KEY.subarray(0, 16)));
    assert.ok(!contains(bytes, Buffer.from(Buffer.from(DISK_KEY).toString('base64'))));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(`${file}.key`).mode & 0o777, 0o600);

    // Reopened, it still has the resource and the audit rows (a release, then a refusal).
    const store = await KbsStore.open({ file });
    assert.deepEqual(store.get('default/disk/app')?.secret, DISK_KEY);
    const log = store.auditLog();
    assert.ok(log.some((r) => r.event === 'release' && r.resource === 'default/disk/app'));
    assert.ok(log.some((r) => r.event === 'refuse' && /MRENCLAVE 9999/.test(r.reason)));
    assert.equal(store.auditLog(1).length, 1);
    store.close();
  });

  it('detects a sealed row moved to another path or altered', async () => {
    const file = join(dir, 'moved.sqlite');
    const store = await KbsStore.open({ file });
    store.put('default/disk/a', DISK_KEY);
    store.put('default/disk/b', new TextEncoder().encode('other secret'));
    store.close();
    const SQL = await initSqlJs();
    const db = new SQL.Database(readFileSync(file));
    db.run(
      "UPDATE resources SET sealed = (SELECT sealed FROM resources WHERE path = 'default/disk/b') WHERE path = 'default/disk/a'",
    );
    writeFileSync(file, db.export());
    db.close();
    const reopened = await KbsStore.open({ file });
    assert.throws(() => reopened.get('default/disk/a'), /unable to authenticate|Unsupported state/);
    assert.equal(reopened.get('default/disk/none'), undefined);
    reopened.close();
  });

  it('refuses a master key readable by others, or of the wrong size', () => {
    const key = join(dir, 'open.key');
    writeFileSync(key, Buffer.alloc(32, 1));
    chmodSync(key, 0o644);
    assert.throws(() => loadMasterKey(key), /must not be readable by others/);
    chmodSync(key, 0o600);
    assert.equal(loadMasterKey(key).length, 32);
    writeFileSync(key, Buffer.alloc(16, 1));
    assert.throws(() => loadMasterKey(key), /not a 32-byte key/);
  });

  it('accepts only repo/type/tag resource paths', async () => {
    for (const good of ['default/disk/app', 'a/b/c', 'repo_1/key-type/v1.2'])
      assert.ok(isResourcePath(good), good);
    for (const bad of ['', 'a/b', 'a/b/c/d', '../b/c', 'a/./c', 'a//c', 'a/b/c ', '.a/b/c', 'a/b/%2e']) {
      assert.ok(!isResourcePath(bad), bad);
    }
    const store = await KbsStore.open({});
    assert.throws(() => store.put('../etc/passwd', DISK_KEY), /invalid resource path/);
    store.close();
  });

  it('keeps the newest refusals and every release: a flood of refusals can neither grow the table nor erase releases', async () => {
    const file = join(dir, 'audit-bound.sqlite');
    const store = await KbsStore.open({ file, maxRefusalRows: 50, flushMs: 10 });
    const who = { resource: 'default/disk/app', session: 's', client: '127.0.0.1', mrenclave: '11' } as const;
    const refuse = (i: number): void =>
      store.audit({ event: 'refuse', ...who, reason: `refusal ${i} ${'x'.repeat(500)}` });
    for (let i = 0; i < 200; i++) {
      if (i % 50 === 0) store.audit({ event: 'release', ...who, reason: `release ${i}` });
      refuse(i);
    }
    store.flush();
    const afterFirst = statSync(file).size;
    for (let i = 200; i < 2_000; i++) refuse(i);
    store.close();
    // Reopened: the count of refusals is read back, the bound holds across restarts.
    const again = await KbsStore.open({ file, maxRefusalRows: 50 });
    for (let i = 2_000; i < 2_010; i++) again.audit({ event: 'refuse', ...who, reason: `refusal ${i}` });
    const rows = again.auditLog();
    again.close();
    const refusals = rows.filter((r) => r.event === 'refuse');
    assert.equal(refusals.length, 50);
    assert.match(refusals[0].reason, /^refusal 1960 /);
    assert.equal(refusals[49].reason, 'refusal 2009');
    assert.deepEqual(
      rows.filter((r) => r.event === 'release').map((r) => r.reason),
      ['release 0', 'release 50', 'release 100', 'release 150'],
    );
    // Deleted rows' pages are reused: ten times the rows, not ten times the file.
    assert.ok(statSync(file).size <= afterFirst + 64 * 1024, `${afterFirst} -> ${statSync(file).size}`);
    await assert.rejects(KbsStore.open({ maxRefusalRows: 0 }), /positive integer/);
  });

  it('audits admin stores, also in a database made before the store event existed', async () => {
    const file = join(dir, 'audit-old.sqlite');
    const SQL = await initSqlJs();
    const old = new SQL.Database();
    old.exec(`CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  event TEXT NOT NULL CHECK (event IN ('release', 'refuse')),
  resource TEXT,
  session TEXT,
  client TEXT,
  mrenclave TEXT,
  reason TEXT NOT NULL
);
CREATE INDEX audit_by_event ON audit (event, id);
INSERT INTO audit VALUES (7, '2026-01-01T00:00:00Z', 'release', 'default/disk/app', 's', 'c', '11', 'policy met');`);
    assert.throws(() => old.run("INSERT INTO audit (at, event, reason) VALUES ('x', 'store', 'r')"), /CHECK/);
    writeFileSync(file, old.export());
    old.close();

    const store = await KbsStore.open({ file });
    store.audit({
      event: 'store',
      resource: 'default/disk/app',
      session: null,
      client: '::1',
      mrenclave: null,
      reason: '32 bytes, by the admin',
    });
    store.audit({
      event: 'refuse',
      resource: null,
      session: null,
      client: '::1',
      mrenclave: null,
      reason: 'no',
    });
    store.close();
    const rows = (await KbsStore.open({ file, readOnly: true })).auditLog();
    assert.deepEqual(
      rows.map((r) => [r.id, r.event, r.reason]),
      [
        [7, 'release', 'policy met'],
        [8, 'store', '32 bytes, by the admin'],
        [9, 'refuse', 'no'],
      ],
    );
    const reopened = await KbsStore.open({ file });
    assert.throws(
      () =>
        reopened.audit({
          event: 'forged' as 'store',
          resource: null,
          session: null,
          client: null,
          mrenclave: null,
          reason: 'r',
        }),
      /CHECK/,
    );
    reopened.close();
  });
});
