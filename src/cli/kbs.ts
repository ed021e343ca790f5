/** `cloister kbs serve | put | audit`: the key broker service and its resource store. */
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import type { Command } from 'commander';
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { verifyDcapCollateral } from '../attestation/dcap-collateral.ts';
import { PolicyFormatError, parsePolicy } from '../attestation/policy.ts';
import type { Policy } from '../attestation/policy.ts';
import { dcapEvidenceVerifier } from '../kbs/evidence.ts';
import { KeyBroker } from '../kbs/server.ts';
import { escapeControls } from '../kbs/problem.ts';
import { DEFAULT_REFUSAL_ROWS, KbsStore, isResourcePath } from '../kbs/store.ts';
import { VolumeCounters } from '../kbs/counters.ts';
import { SimPlatform, SimPlatformError } from '../tee/sim/platform.ts';
import { simCollateral } from '../tee/sim/quoting.ts';
import { UsageError } from './run-options.ts';

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
  auditRefusals: string;
  adminPublicKey?: string;
}

/** The administrator's Ed25519 public key (PEM, as `openssl pkey -pubout` writes it). */
function readAdminKey(path: string): KeyObject {
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

/** Holds `<db>.lock` while serving, so `kbs put` cannot write a database the server will overwrite. */
function lock(db: string): () => void {
  const path = `${db}.lock`;
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch {
    throw new UsageError(`${db} is in use (${path} exists; remove it if no KBS is running)`);
  }
  writeSync(fd, `${process.pid}\n`);
  closeSync(fd);
  return () => unlinkSync(path);
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
  const adminKey = flags.adminPublicKey === undefined ? undefined : readAdminKey(flags.adminPublicKey);
  const unlock = lock(flags.db);
  const store = await KbsStore.open({ file: flags.db, masterKeyFile: flags.masterKey, maxRefusalRows });
  const log = (line: string): void => void process.stderr.write(`kbs: ${new Date().toISOString()} ${line}\n`);
  const counters = new VolumeCounters(store);
  const broker = new KeyBroker({
    store,
    counters,
    policy,
    verifier: dcapEvidenceVerifier({ collateral, trustedRoot: root }),
    log,
    adminKey,
  });
  const { url, close } = await broker.listen({ host: flags.host, port, tls });
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
  store.close();
  unlock();
  log('stopped');
}

async function put(
  path: string,
  flags: { file: string; db: string; policy?: string; masterKey?: string },
): Promise<void> {
  if (!isResourcePath(path)) throw new UsageError(`${path}: a resource path is repository/type/tag`);
  const secret = readFile(flags.file, '--file');
  if (secret.length === 0) throw new UsageError(`--file ${flags.file}: empty`);
  const policy = flags.policy === undefined ? undefined : readPolicy(flags.policy, '--policy');
  const unlock = lock(flags.db);
  try {
    const store = await KbsStore.open({ file: flags.db, masterKeyFile: flags.masterKey });
    store.put(path, secret, policy);
    store.close();
  } finally {
    unlock();
  }
  process.stdout.write(`stored ${path} (${secret.length} bytes${policy ? ', with its own policy' : ''})\n`);
}

/** Prints the broker key's public JWK (creating the key on first use): what `run --kbs-key` pins. */
async function publicKey(flags: { db: string; masterKey?: string; output?: string }): Promise<void> {
  const unlock = lock(flags.db);
  let jwk: string;
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
      '--audit-refusals <N>',
      'refusals kept in the audit log, the newest (releases are all kept)',
      String(DEFAULT_REFUSAL_ROWS),
    )
    .option(
      '--admin-public-key <FILE>',
      "the administrator's Ed25519 public key (PEM): enables storing resources over HTTP (docs/kbs.md)",
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
    .action(put);

  kbs
    .command('public-key')
    .description("print the broker key's public JWK, which signs volume counters (for run --kbs-key)")
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
