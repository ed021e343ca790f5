/** `cloister kbs serve | put | audit`: the key broker service and its resource store. */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import type { Command } from 'commander';
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { verifyDcapCollateral } from '../attestation/dcap-collateral.ts';
import { PolicyFormatError, parsePolicy } from '../attestation/policy.ts';
import type { Policy } from '../attestation/policy.ts';
import { dcapEvidenceVerifier } from '../attestation/evidence.ts';
import { KeyBroker } from '../kbs/server.ts';
import { escapeControls } from '../kbs/problem.ts';
import { DEFAULT_REFUSAL_ROWS, KbsStore, isResourcePath } from '../kbs/store.ts';
import { VolumeCounters } from '../kbs/counters.ts';
import { SimPlatform, SimPlatformError } from '../tee/sim/platform.ts';
import { simCollateral } from '../tee/sim/quoting.ts';
import { UsageError } from './run-options.ts';
import { VolumeInUseError, lockVolume } from './volume-lock.ts';
import {
  AdminAuthError,
  AdminVerifier,
  adminToken,
  loadOrCreateAdminKey,
  readAdminKey,
} from '../kbs/admin.ts';
import { relayExchange } from '../host/net-relay.ts';
import { RELAY_FAILURES, type RelayedResponse } from '../interface/net-relay.ts';

interface ServeFlags {
  db: string;
  policy: string;
  collateral?: string;
  trustSimRoot?: boolean;
  port: string;
  host: string;
  tls?: boolean;
  cert?: string;
  key?: string;
  masterKey?: string;
  adminKey?: string;
  adminPublicKey?: string;
  auditRefusals: string;
}

/** An administrator's Ed25519 public key (PEM, as `openssl pkey -pubout` writes it). */
function readAdminPublicKey(path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(readFile(path, '--admin-public-key'));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--admin-public-key ${path}: not a public key (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new UsageError(`--admin-public-key ${path}: an Ed25519 key, not ${key.asymmetricKeyType}`);
  return key;
}

const MAX_FILE = 1 << 20;

function readFile(path: string, option: string, max = MAX_FILE): Buffer {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${option} ${path}: no such file`);
  if (statSync(path).size > max) throw new UsageError(`${option} ${path}: too large`);
  return readFileSync(path);
}

function readJson(path: string, option: string): unknown {
  try {
    return JSON.parse(readFile(path, option).toString('utf8'));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${option} ${path}: not JSON (${(error as Error).message})`);
  }
}

function readPolicy(path: string, option: string): Policy {
  try {
    return parsePolicy(readJson(path, option));
  } catch (error) {
    if (error instanceof PolicyFormatError) throw new UsageError(`${option} ${path}: ${error.message}`);
    throw error;
  }
}

/**
 * What evidence must chain to, and the collateral to judge it with: Intel's SGX Root CA (the verifier's
 * default) with `--collateral`; or, with `--trust-sim-root`, the local sim platform's root, whose
 * evidence proves nothing about hardware, with `--collateral` or else collateral the sim platform
 * issues now (valid 30 days).
 */
async function trust(flags: ServeFlags): Promise<{ root?: Uint8Array; collateral: unknown }> {
  if (!flags.trustSimRoot) {
    if (flags.collateral === undefined) {
      throw new UsageError('--collateral is required (DCAP collateral for Intel-rooted evidence)');
    }
    return { collateral: readJson(flags.collateral, '--collateral') };
  }
  let platform: SimPlatform;
  try {
    platform = await SimPlatform.open({ create: false });
  } catch (error) {
    if (error instanceof SimPlatformError) throw new UsageError(`--trust-sim-root: ${error.message}`);
    throw error;
  }
  const collateral =
    flags.collateral === undefined
      ? await simCollateral(platform)
      : readJson(flags.collateral, '--collateral');
  return { root: platform.rootCertificateDer, collateral };
}

/**
 * Holds `<db>.lock` while serving (or writing), so that nothing writes a database the server will
 * overwrite. The lock names its holder (volume-lock.ts): one left by a process that is gone — a
 * server killed, or one that failed to start — is taken over, never an obstacle.
 */
function lock(db: string): () => void {
  try {
    return lockVolume(db).release;
  } catch (error) {
    if (error instanceof VolumeInUseError)
      throw new UsageError(`${db} is in use by pid ${error.pid} (a running kbs serve?)`);
    throw error;
  }
}

/** Where a running server tells `kbs put` how to reach it: `{url, pid, cert?}`, 0600. */
const serverFile = (db: string): string => `${db}.serving.json`;
const adminKeyPath = (db: string, option?: string): string => option ?? `${db}.admin-key`;

interface ServingInfo {
  url: string;
  pid: number;
  /** The server's TLS certificate (PEM), for `kbs put` to trust it. */
  cert?: string;
  /** The broker key's public JWK, for `kbs public-key` while the server holds the database. */
  brokerKey?: unknown;
}

async function serve(flags: ServeFlags): Promise<void> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port ${flags.port}: not a port`);
  if (flags.tls && (flags.cert === undefined || flags.key === undefined)) {
    throw new UsageError('--tls needs --cert and --key');
  }
  const maxRefusalRows = Number(flags.auditRefusals);
  if (!Number.isInteger(maxRefusalRows) || maxRefusalRows < 1) {
    throw new UsageError(`--audit-refusals ${flags.auditRefusals}: a positive integer`);
  }
  const policy = readPolicy(flags.policy, '--policy');
  const { root, collateral: raw } = await trust(flags);
  // Verified once here: collateral under another root fails now, not at the first attestation.
  const collateral = await verifyDcapCollateral(raw, { trustedRoot: root });
  const tls = flags.tls
    ? { cert: readFile(flags.cert as string, '--cert'), key: readFile(flags.key as string, '--key') }
    : undefined;
  const unlock = lock(flags.db);
  // Whatever fails from here on (the port taken, a bad master key), the lock goes with it.
  try {
    const store = await KbsStore.open({ file: flags.db, masterKeyFile: flags.masterKey, maxRefusalRows });
    try {
      await serveStore(flags, store, policy, { collateral, root, port, tls });
    } finally {
      store.close();
    }
  } finally {
    unlock();
  }
}

async function serveStore(
  flags: ServeFlags,
  store: KbsStore,
  policy: Policy,
  how: {
    collateral: Awaited<ReturnType<typeof verifyDcapCollateral>>;
    root?: Uint8Array;
    port: number;
    tls?: { cert: Buffer; key: Buffer };
  },
): Promise<void> {
  const log = (line: string): void => void process.stderr.write(`kbs: ${new Date().toISOString()} ${line}\n`);
  const counters = new VolumeCounters(store);
  const adminKeys = [
    loadOrCreateAdminKey(adminKeyPath(flags.db, flags.adminKey)),
    ...(flags.adminPublicKey === undefined ? [] : [readAdminPublicKey(flags.adminPublicKey)]),
  ];
  const broker = new KeyBroker({
    store,
    counters,
    policy,
    verifier: dcapEvidenceVerifier({ collateral: how.collateral, trustedRoot: how.root }),
    log,
    admin: new AdminVerifier(adminKeys),
  });
  let listening;
  try {
    listening = await broker.listen({ host: flags.host, port: how.port, tls: how.tls });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new UsageError(`${flags.host}:${how.port} is in use by another program (choose --port)`);
    if (code === 'EADDRNOTAVAIL')
      throw new UsageError(`--host ${flags.host}: not an address of this machine`);
    throw error;
  }
  const { url, close } = listening;
  const info: ServingInfo = {
    url,
    pid: process.pid,
    brokerKey: counters.publicKey,
    ...(how.tls && { cert: how.tls.cert.toString('utf8') }),
  };
  writeFileSync(serverFile(flags.db), `${JSON.stringify(info)}\n`, { mode: 0o600 });
  try {
    if (flags.trustSimRoot) {
      log(
        'WARNING: --trust-sim-root: accepting SIMULATED evidence (sim platform root, not Intel): no hardware isolation',
      );
    }
    log(`listening on ${url} (${store.list().length} resources)`);
    log(`broker key (for run --kbs-key): ${JSON.stringify(counters.publicKey)}`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await close();
  } finally {
    rmSync(serverFile(flags.db), { force: true });
  }
  log('stopped');
}

interface PutFlags {
  file: string;
  db: string;
  policy?: string;
  masterKey?: string;
  url?: string;
  adminKey?: string;
  kbsCa?: string;
}

/**
 * `kbs put`: into the database directly when no server holds it; to the running server's admin
 * endpoint when one does (found in `<db>.serving.json`), or to `--url`: stored at once, no restart.
 */
async function put(path: string, flags: PutFlags): Promise<void> {
  if (!isResourcePath(path)) throw new UsageError(`${path}: a resource path is repository/type/tag`);
  const secret = readFile(flags.file, '--file');
  if (secret.length === 0) throw new UsageError(`--file ${flags.file}: empty`);
  const policy = flags.policy === undefined ? undefined : readPolicy(flags.policy, '--policy');
  const done = `stored ${path} (${secret.length} bytes${policy ? ', with its own policy' : ''})`;
  if (flags.url !== undefined) {
    const ca = flags.kbsCa === undefined ? undefined : readFile(flags.kbsCa, '--kbs-ca').toString('utf8');
    await putToServer(flags.url, ca, adminKeyPath(flags.db, flags.adminKey), path, secret, policy);
    process.stdout.write(`${done} at ${flags.url}\n`);
    return;
  }
  let unlock: () => void;
  try {
    unlock = lock(flags.db);
  } catch (error) {
    const serving = readServing(flags.db);
    if (serving === undefined) throw error;
    await putToServer(
      serving.url,
      serving.cert,
      adminKeyPath(flags.db, flags.adminKey),
      path,
      secret,
      policy,
    );
    process.stdout.write(`${done} in the running server at ${serving.url}\n`);
    return;
  }
  try {
    const store = await KbsStore.open({ file: flags.db, masterKeyFile: flags.masterKey });
    store.put(path, secret, policy);
    const what = `${secret.length} bytes${policy ? ', with its own policy' : ''}`;
    store.audit({
      event: 'store',
      resource: path,
      session: null,
      client: null,
      mrenclave: null,
      reason: `${what}, by kbs put`,
    });
    store.close();
  } finally {
    unlock();
  }
  process.stdout.write(`${done}\n`);
}

/** The running server's address, if a live one wrote it. */
function readServing(db: string): ServingInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(serverFile(db), 'utf8')) as ServingInfo;
    process.kill(info.pid, 0);
    return typeof info.url === 'string' ? info : undefined;
  } catch {
    return undefined;
  }
}

async function putToServer(
  url: string,
  ca: string | undefined,
  adminKeyFile: string,
  path: string,
  secret: Uint8Array,
  policy: Policy | undefined,
): Promise<void> {
  let key;
  try {
    key = readAdminKey(adminKeyFile);
  } catch (error) {
    if (error instanceof AdminAuthError) throw new UsageError(`${error.message} (--admin-key FILE)`);
    throw error;
  }
  const body =
    policy === undefined
      ? secret
      : new TextEncoder().encode(JSON.stringify({ secret: Buffer.from(secret).toString('base64'), policy }));
  const target = new URL(`/kbs/v0/resource/${path}`, url);
  const reply = relayExchange(
    {
      method: 'POST',
      url: target.href,
      headers: {
        'content-type': policy === undefined ? 'application/octet-stream' : 'application/json',
        authorization: `Bearer ${await adminToken(key, path, body)}`,
      },
      body: Buffer.from(body).toString('base64'),
    },
    ca === undefined ? undefined : new HttpsAgent({ ca }),
  );
  const answer = JSON.parse(new TextDecoder().decode((await reply).data)) as RelayedResponse;
  if (answer.failure !== undefined)
    throw new Error(`cannot reach the key broker at ${target.origin}: ${RELAY_FAILURES[answer.failure]}`);
  if (answer.status !== 200) {
    const text = Buffer.from(answer.body, 'base64').toString('utf8');
    let detail = text.slice(0, 300);
    try {
      detail = String((JSON.parse(text) as { detail?: unknown }).detail ?? detail);
    } catch {
      // Not problem+json: the text as it came.
    }
    throw new Error(
      `the key broker at ${target.origin} refused: HTTP ${answer.status}: ${escapeControls(detail)}`,
    );
  }
}

/** Prints the broker key's public JWK (creating the key on first use): what `run --kbs-key` pins. */
async function publicKey(flags: { db: string; masterKey?: string; output?: string }): Promise<void> {
  let unlock: () => void;
  let jwk: string;
  try {
    unlock = lock(flags.db);
  } catch (error) {
    // The server holds the database: it wrote its key where `kbs put` finds it.
    const serving = readServing(flags.db);
    if (serving?.brokerKey === undefined) throw error;
    jwk = `${JSON.stringify(serving.brokerKey)}\n`;
    if (flags.output === undefined) process.stdout.write(jwk);
    else writeFileSync(flags.output, jwk);
    return;
  }
  try {
    const store = await KbsStore.open({ file: flags.db, masterKeyFile: flags.masterKey });
    jwk = `${JSON.stringify(new VolumeCounters(store).publicKey)}\n`;
    store.close();
  } finally {
    unlock();
  }
  if (flags.output === undefined) process.stdout.write(jwk);
  else writeFileSync(flags.output, jwk);
}

async function audit(flags: {
  db: string;
  json?: boolean;
  limit?: string;
  masterKey?: string;
}): Promise<void> {
  if (!existsSync(flags.db)) throw new UsageError(`--db ${flags.db}: no such file`);
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    throw new UsageError('--limit: a positive integer');
  const store = await KbsStore.open({ file: flags.db, readOnly: true });
  const rows = store.auditLog(limit);
  store.close();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  // Rows are escaped when written; control characters are escaped again here, for old databases.
  const safe = escapeControls;
  for (const r of rows) {
    const who = [
      r.session && `session=${safe(r.session)}`,
      r.client && `client=${safe(r.client)}`,
      r.mrenclave && `mrenclave=${safe(r.mrenclave)}`,
    ];
    process.stdout.write(
      `${r.at} ${r.event.padEnd(7)} ${safe(r.resource ?? '-')} ${who.filter(Boolean).join(' ')}: ${safe(r.reason)}\n`,
    );
  }
}

/** Adds `cloister kbs ...` to the program. */
export function registerKbsCommands(program: Command): void {
  const kbs = program
    .command('kbs')
    .description('key broker service: releases secrets only to attested enclaves');
  const masterKey = [
    '--master-key <FILE>',
    'the 0600 file with the database master key (default DB.key)',
  ] as const;

  kbs
    .command('serve')
    .description('serve the Trustee KBS protocol (auth, attest, resource) over HTTP, or HTTPS with --tls')
    .requiredOption('--db <FILE>', 'resource database (SQLite)', 'kbs.sqlite')
    .requiredOption('--policy <FILE>', 'attestation policy (JSON), also for resources without their own')
    .option('--collateral <FILE>', 'DCAP collateral (PCCS JSON) for the quotes presented')
    .option(
      '--trust-sim-root',
      "trust the local sim platform's root CA: accepts SIMULATED evidence (development)",
    )
    .option('--port <PORT>', 'TCP port (0: any free port)', '8080')
    .option('--host <ADDR>', 'address to listen on', '127.0.0.1')
    .option('--tls', 'serve HTTPS')
    .option('--cert <FILE>', 'TLS certificate (PEM)')
    .option('--key <FILE>', 'TLS private key (PEM)')
    .option(...masterKey)
    .option(
      '--admin-key <FILE>',
      'Ed25519 key allowing kbs put while serving (default DB.admin-key, made if missing)',
    )
    .option(
      '--admin-public-key <FILE>',
      "another administrator's Ed25519 public key (PEM), e.g. a data owner's: its tokens may store and read back resources (docs/kbs.md)",
    )
    .option(
      '--audit-refusals <N>',
      'refusals kept in the audit log, the newest (releases are all kept)',
      String(DEFAULT_REFUSAL_ROWS),
    )
    .action(serve);

  kbs
    .command('put')
    .description('store (or replace) a resource, encrypted at rest')
    .argument('<PATH>', 'resource path repository/type/tag, e.g. default/disk/app')
    .requiredOption('--file <FILE>', 'the secret')
    .option('--db <FILE>', 'resource database (SQLite)', 'kbs.sqlite')
    .option('--policy <FILE>', "this resource's own release policy (JSON); default: the server's")
    .option(...masterKey)
    .option('--url <URL>', 'a running key broker to store it in (default: the one serving --db, if any)')
    .option('--admin-key <FILE>', "the broker's admin key (default DB.admin-key, made by kbs serve)")
    .option('--kbs-ca <FILE>', 'CA certificate(s) (PEM) to trust for an https --url')
    .action(put);

  kbs
    .command('public-key')
    .description(
      "print the broker key's public JWK, which signs releases and volume counters (for run --kbs-key)",
    )
    .option('--db <FILE>', 'resource database (SQLite)', 'kbs.sqlite')
    .option('-o, --output <FILE>', 'write it to FILE')
    .option(...masterKey)
    .action(publicKey);

  kbs
    .command('audit')
    .description('print the audit log: every release and refusal with its reason')
    .option('--db <FILE>', 'resource database (SQLite)', 'kbs.sqlite')
    .option('--limit <N>', 'only the last N entries')
    .option('--json', 'JSON output')
    .action(audit);
}
