/** `cloister kbs serve | put | audit`: the key broker service and its resource store. */
import { closeSync, existsSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { bytesEqual } from '../attestation/bytes.ts';
import { INTEL_SGX_ROOT_CA_DER, verifyDcapCollateral } from '../attestation/dcap-collateral.ts';
import { parseCert } from '../attestation/x509-chain.ts';
import { dcapEvidenceVerifier } from '../kbs/evidence.ts';
import { parsePolicy } from '../kbs/policy.ts';
import type { ResourcePolicy } from '../kbs/policy.ts';
import { KeyBroker } from '../kbs/server.ts';
import { KbsStore, isResourcePath } from '../kbs/store.ts';
import { UsageError } from './run-options.ts';

interface ServeFlags {
  db: string;
  policy: string;
  collateral: string;
  trustedRoot?: string;
  trustSimRoot?: boolean;
  port: string;
  host: string;
  tls?: boolean;
  cert?: string;
  key?: string;
  masterKey?: string;
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

function readPolicy(path: string, option: string): ResourcePolicy {
  try {
    return parsePolicy(readJson(path, option));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${option} ${path}: ${(error as Error).message}`);
  }
}

/**
 * The root evidence must chain to: Intel's SGX Root CA, unless `--trusted-root` names another and
 * `--trust-sim-root` says the operator knowingly accepts evidence from a simulated platform.
 */
function trustedRoot(flags: ServeFlags): Uint8Array {
  if (flags.trustedRoot === undefined) {
    if (flags.trustSimRoot) throw new UsageError('--trust-sim-root needs --trusted-root (the sim root CA)');
    return INTEL_SGX_ROOT_CA_DER;
  }
  const bytes = readFile(flags.trustedRoot, '--trusted-root');
  const root = new Uint8Array(
    parseCert(bytes.toString('latin1').includes('-----BEGIN') ? bytes.toString() : bytes, 'trusted root')
      .rawData,
  );
  if (!bytesEqual(root, INTEL_SGX_ROOT_CA_DER) && !flags.trustSimRoot) {
    throw new UsageError(
      `--trusted-root ${flags.trustedRoot} is not Intel's SGX Root CA: evidence under it has no hardware ` +
        'behind it; pass --trust-sim-root to accept it anyway (development only)',
    );
  }
  return root;
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
  const policy = readPolicy(flags.policy, '--policy');
  const root = trustedRoot(flags);
  const collateral = await verifyDcapCollateral(readJson(flags.collateral, '--collateral'), {
    trustedRoot: root,
  });
  const tls = flags.tls
    ? { cert: readFile(flags.cert as string, '--cert'), key: readFile(flags.key as string, '--key') }
    : undefined;
  const unlock = lock(flags.db);
  const store = await KbsStore.open({ file: flags.db, masterKeyFile: flags.masterKey });
  const log = (line: string): void => void process.stderr.write(`kbs: ${new Date().toISOString()} ${line}\n`);
  const broker = new KeyBroker({
    store,
    policy,
    verifier: dcapEvidenceVerifier({ collateral, trustedRoot: root }),
    log,
  });
  const { url, close } = await broker.listen({ host: flags.host, port, tls });
  if (flags.trustSimRoot) log('WARNING: trusting a non-Intel root (--trust-sim-root): no hardware isolation');
  log(`listening on ${url} (${store.list().length} resources)`);
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
  for (const r of rows) {
    const who = [
      r.session && `session=${r.session}`,
      r.client && `client=${r.client}`,
      r.mrenclave && `mrenclave=${r.mrenclave}`,
    ];
    process.stdout.write(
      `${r.at} ${r.event.padEnd(7)} ${r.resource ?? '-'} ${who.filter(Boolean).join(' ')}: ${r.reason}\n`,
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
    .requiredOption('--collateral <FILE>', 'DCAP collateral (PCCS JSON) for the quotes presented')
    .option('--trusted-root <FILE>', "root CA the evidence must chain to (default: Intel's SGX Root CA)")
    .option('--trust-sim-root', 'accept a non-Intel (simulated platform) root: development only')
    .option('--port <PORT>', 'TCP port (0: any free port)', '8080')
    .option('--host <ADDR>', 'address to listen on', '127.0.0.1')
    .option('--tls', 'serve HTTPS')
    .option('--cert <FILE>', 'TLS certificate (PEM)')
    .option('--key <FILE>', 'TLS private key (PEM)')
    .option(...masterKey)
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
    .command('audit')
    .description('print the audit log: every release and refusal with its reason')
    .option('--db <FILE>', 'resource database (SQLite)', 'kbs.sqlite')
    .option('--limit <N>', 'only the last N entries')
    .option('--json', 'JSON output')
    .action(audit);
}
