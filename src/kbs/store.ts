/**
 * The KBS database: resources sealed at rest with AES-256-GCM under a master key kept in its own
 * 0600 file, a policy per resource, and the audit log of every release and refusal. SQLite through
 * sql.js (WebAssembly; the whole database lives in memory and is written back to the file atomically,
 * at most every `flushMs` and on close).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import initSqlJs from 'sql.js';
import type { Database, SqlValue } from 'sql.js';
import { parsePolicy } from '../attestation/policy.ts';
import type { Policy } from '../attestation/policy.ts';

/** `repository/type/tag`, each segment a plain name. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Whether `path` is a valid resource path `repo/type/tag`. */
export function isResourcePath(path: string): boolean {
  const parts = path.split('/');
  return parts.length === 3 && parts.every((p) => SEGMENT.test(p));
}

/** One audit row. */
export interface AuditEntry {
  id: number;
  at: string;
  /** `release` or `refuse` (to an enclave or the admin), or `store` (by the admin). */
  event: 'release' | 'refuse' | 'store';
  resource: string | null;
  session: string | null;
  client: string | null;
  mrenclave: string | null;
  reason: string;
}

const MASTER_KEY_SIZE = 32;
/** Refusal rows kept by default in the audit table: the newest, the oldest dropped as new ones come. */
export const DEFAULT_REFUSAL_ROWS = 50_000;
const SCHEMA = `
CREATE TABLE IF NOT EXISTS resources (
  path TEXT PRIMARY KEY,
  sealed BLOB NOT NULL,
  policy TEXT,
  updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  event TEXT NOT NULL CHECK (event IN ('release', 'refuse', 'store')),
  resource TEXT,
  session TEXT,
  client TEXT,
  mrenclave TEXT,
  reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_event ON audit (event, id);`;

/**
 * Databases made before admin stores were audited allow only `release` and `refuse` rows; SQLite
 * cannot change a CHECK constraint, so the table is rebuilt with its rows and ids.
 */
function allowStoreEvents(db: Database): void {
  const sql = db.exec("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit'")[0]
    ?.values[0]?.[0];
  if (typeof sql !== 'string' || sql.includes("'store'")) return;
  db.exec(`BEGIN;
ALTER TABLE audit RENAME TO audit_old;
DROP INDEX IF EXISTS audit_by_event;
${SCHEMA}
INSERT INTO audit SELECT * FROM audit_old;
DROP TABLE audit_old;
COMMIT;`);
}

/** Reads the master key, creating it (mode 0600, exclusively) when absent; refuses a readable one. */
export function loadMasterKey(path: string): Buffer {
  if (!existsSync(path)) {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(MASTER_KEY_SIZE));
    } finally {
      closeSync(fd);
    }
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(`${path}: the KBS master key must not be readable by others (mode ${mode.toString(8)})`);
  }
  const key = readFileSync(path);
  if (key.length !== MASTER_KEY_SIZE) throw new Error(`${path}: not a ${MASTER_KEY_SIZE}-byte key`);
  return key;
}

/** The resource store and audit log. */
export class KbsStore {
  private dirty = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    private readonly db: Database,
    private readonly masterKey: Buffer,
    private readonly file: string | undefined,
    private readonly flushMs: number,
    private readonly maxRefusalRows: number,
    /** Refusal rows in the table now. */
    private refusals: number,
  ) {}

  /**
   * Opens (or creates) the database at `file` (in memory when undefined) with the master key at
   * `masterKeyFile` (default `<file>.key`).
   */
  static async open(options: {
    file?: string;
    masterKey?: Buffer;
    masterKeyFile?: string;
    flushMs?: number;
    /** Refusal rows kept (default `DEFAULT_REFUSAL_ROWS`); beyond, the oldest are deleted. */
    maxRefusalRows?: number;
    /** Read the audit log only: no master key needed, the file is never written. */
    readOnly?: boolean;
  }): Promise<KbsStore> {
    const SQL = await initSqlJs();
    const { file } = options;
    const db = new SQL.Database(file !== undefined && existsSync(file) ? readFileSync(file) : undefined);
    db.exec(SCHEMA);
    if (!options.readOnly) allowStoreEvents(db);
    const maxRefusalRows = options.maxRefusalRows ?? DEFAULT_REFUSAL_ROWS;
    if (!Number.isInteger(maxRefusalRows) || maxRefusalRows < 1) {
      throw new RangeError(`maxRefusalRows ${maxRefusalRows}: a positive integer`);
    }
    if (options.readOnly) return new KbsStore(db, Buffer.alloc(0), undefined, 0, maxRefusalRows, 0);
    const refusals = Number(db.exec("SELECT count(*) FROM audit WHERE event = 'refuse'")[0].values[0][0]);
    const keyFile = options.masterKeyFile ?? (file === undefined ? undefined : `${file}.key`);
    const masterKey = options.masterKey ?? (keyFile === undefined ? randomBytes(32) : loadMasterKey(keyFile));
    const store = new KbsStore(db, masterKey, file, options.flushMs ?? 200, maxRefusalRows, refusals);
    store.flush();
    return store;
  }

  /** Stores (or replaces) a resource, sealed; `policy` undefined keeps the server's default policy. */
  put(path: string, secret: Uint8Array, policy?: Policy): void {
    if (!isResourcePath(path)) throw new Error(`invalid resource path "${path}" (want repo/type/tag)`);
    this.db.run(
      'INSERT INTO resources (path, sealed, policy, updated) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT(path) DO UPDATE SET sealed = excluded.sealed, policy = excluded.policy, updated = excluded.updated',
      [path, this.seal(path, secret), policy === undefined ? null : JSON.stringify(policy), now()],
    );
    this.flush();
  }

  /** The resource's secret and policy, or undefined when there is none. */
  get(path: string): { secret: Uint8Array; policy: Policy | undefined } | undefined {
    const row = this.one('SELECT sealed, policy FROM resources WHERE path = ?', [path]);
    if (row === undefined) return undefined;
    const [sealed, policy] = row;
    return {
      secret: this.unseal(path, sealed as Uint8Array),
      policy: typeof policy === 'string' ? parsePolicy(JSON.parse(policy)) : undefined,
    };
  }

  /** Resource paths, sorted. */
  list(): string[] {
    const result = this.db.exec('SELECT path FROM resources ORDER BY path');
    return (result[0]?.values ?? []).map((r) => String(r[0]));
  }

  /**
   * Appends an audit row. Refusals beyond the newest `maxRefusalRows` are deleted, oldest first:
   * anyone can make the server refuse, so a flood of refusals must neither grow the database without
   * bound nor push the releases out (only attested enclaves cause those; they are all kept).
   */
  audit(entry: Omit<AuditEntry, 'id' | 'at'>): void {
    this.db.run(
      'INSERT INTO audit (at, event, resource, session, client, mrenclave, reason) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [now(), entry.event, entry.resource, entry.session, entry.client, entry.mrenclave, entry.reason],
    );
    if (entry.event === 'refuse' && ++this.refusals > this.maxRefusalRows) {
      this.db.run(
        "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE event = 'refuse' ORDER BY id LIMIT ?)",
        [this.refusals - this.maxRefusalRows],
      );
      this.refusals = this.maxRefusalRows;
    }
    this.scheduleFlush();
  }

  /** The audit log, oldest first (the last `limit` rows when given). */
  auditLog(limit?: number): AuditEntry[] {
    const sql =
      limit === undefined
        ? 'SELECT * FROM audit ORDER BY id'
        : 'SELECT * FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id';
    const result = this.db.exec(sql, limit === undefined ? [] : [limit]);
    return (result[0]?.values ?? []).map((r) => ({
      id: Number(r[0]),
      at: String(r[1]),
      event: r[2] as AuditEntry['event'],
      resource: r[3] as string | null,
      session: r[4] as string | null,
      client: r[5] as string | null,
      mrenclave: r[6] as string | null,
      reason: String(r[7]),
    }));
  }

  /** Runs a statement on a table of a module that keeps its own data here (`counters.ts`). */
  run(sql: string, params: SqlValue[] = []): void {
    this.db.run(sql, params);
  }

  /** The rows of a query (see `run`). */
  rows(sql: string, params: SqlValue[] = []): SqlValue[][] {
    return this.db.exec(sql, params)[0]?.values ?? [];
  }

  /** Writes pending changes and closes the database. */
  close(): void {
    this.flush();
    this.db.close();
  }

  /** Writes the database file now (atomically and durably: a 0600 temporary file, fsync, rename). */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty = false;
    if (this.file === undefined) return;
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, this.db.export());
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  private scheduleFlush(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.timer = setTimeout(() => this.flush(), this.flushMs);
    this.timer.unref();
  }

  private one(sql: string, params: SqlValue[]): SqlValue[] | undefined {
    return this.db.exec(sql, params)[0]?.values[0];
  }

  // Nonce || ciphertext || tag; the path is the AAD, so a sealed row moved to another path fails.
  seal(path: string, secret: Uint8Array): Uint8Array {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.masterKey, nonce).setAAD(Buffer.from(path));
    return Buffer.concat([nonce, cipher.update(secret), cipher.final(), cipher.getAuthTag()]);
  }

  unseal(path: string, sealed: Uint8Array): Uint8Array {
    if (sealed.length < 28) throw new Error(`resource ${path}: sealed record truncated`);
    const b = Buffer.from(sealed);
    const decipher = createDecipheriv('aes-256-gcm', this.masterKey, b.subarray(0, 12))
      .setAAD(Buffer.from(path))
      .setAuthTag(b.subarray(b.length - 16));
    return new Uint8Array(Buffer.concat([decipher.update(b.subarray(12, b.length - 16)), decipher.final()]));
  }
}

const now = (): string => new Date().toISOString();
