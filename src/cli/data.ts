/** `cloister data seal | open`: the data owner's side of confidential dataflow jobs. */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Option } from 'commander';
import type { Command } from 'commander';
import { parseKeyFile } from '../dataflow/keyring.ts';
import { openOutput, sealDirectory } from '../dataflow/owner.ts';
import {
  BrokerAdminError,
  adminKeyFrom,
  putBrokerResource,
  readBrokerResource,
  resourcePath,
} from '../dataflow/owner-broker.ts';
import { parsePolicy, PolicyFormatError } from '../attestation/policy.ts';
import type { Policy } from '../attestation/policy.ts';
import { UsageError } from './run-options.ts';

export function readJobKey(path: string): Buffer {
  if (!existsSync(path)) throw new UsageError(`--key-file ${path}: no such file`);
  return parseKeyFile(readFileSync(path));
}

/** `16M`, `512K`, `1G` or a byte count. */
export function parseBytes(option: string, text: string): number {
  const m = /^(\d+)([KMG])?$/i.exec(text.trim());
  const unit = m?.[2]?.toUpperCase();
  const bytes = m
    ? Number(m[1]) * (unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1)
    : 0;
  if (!m || bytes < 1024)
    throw new UsageError(`${option}: cannot read ${JSON.stringify(text)} (try 16M; at least 1K)`);
  return bytes;
}

/** Where the data owner's job key comes from: a key file, or the key broker's admin API. */
interface OwnerKeyOptions {
  keyFile?: string;
  kbs?: string;
  key?: string;
  adminKey?: string;
}

interface BrokerKey {
  url: string;
  path: string;
  adminKey: ReturnType<typeof adminKeyFrom>;
}

function brokerOptions(options: OwnerKeyOptions): BrokerKey | undefined {
  if (options.kbs === undefined && options.key === undefined) return undefined;
  if (options.kbs === undefined || options.key === undefined)
    throw new UsageError('--kbs URL and --key PATH go together');
  if (!/^https?:\/\/[^/\s]+\/?$/.test(options.kbs))
    throw new UsageError(`--kbs: not a broker URL: ${options.kbs}`);
  if (!options.adminKey)
    throw new UsageError(
      "--kbs needs the broker administrator's Ed25519 key: --admin-key FILE (or $CLOISTER_KBS_ADMIN_KEY)",
    );
  if (!existsSync(options.adminKey)) throw new UsageError(`--admin-key ${options.adminKey}: no such file`);
  try {
    return {
      url: options.kbs,
      path: resourcePath(options.key),
      adminKey: adminKeyFrom(readFileSync(options.adminKey)),
    };
  } catch (error) {
    if (error instanceof BrokerAdminError) throw new UsageError(`--key/--admin-key: ${error.message}`);
    throw error;
  }
}

function readPolicyFile(path: string): Policy {
  if (!existsSync(path)) throw new UsageError(`--policy ${path}: no such file`);
  try {
    return parsePolicy(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    if (error instanceof SyntaxError || error instanceof PolicyFormatError)
      throw new UsageError(`--policy ${path}: ${error.message}`);
    throw error;
  }
}

/** The key to seal with; with a broker, the one stored there, or a new one stored there first. */
async function sealingKey(
  options: OwnerKeyOptions & { generateKey?: boolean; policy?: string },
): Promise<{ key: Buffer; note: string }> {
  const broker = brokerOptions(options);
  if (broker === undefined && options.keyFile === undefined)
    throw new UsageError('give --key-file FILE, or --kbs URL --key PATH (the key at the key broker)');
  if (options.policy !== undefined && broker === undefined)
    throw new UsageError('--policy goes with --kbs (the release policy stored with the key)');
  if (options.generateKey) {
    if (options.keyFile === undefined) throw new UsageError('--generate-key needs --key-file');
    if (existsSync(options.keyFile))
      throw new UsageError(`${options.keyFile} exists; refusing to overwrite a key`);
    writeFileSync(options.keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  }
  const own = options.keyFile === undefined ? undefined : readJobKey(options.keyFile);
  if (broker === undefined) return { key: own as Buffer, note: '' };
  const policy = options.policy === undefined ? undefined : readPolicyFile(options.policy);
  const stored = await readBrokerResource(broker.url, broker.path, broker.adminKey);
  if (stored !== undefined && own !== undefined && !stored.equals(own))
    throw new UsageError(
      `the key broker already holds another key at ${broker.path}; refusing to replace it (data sealed under it would no longer open)`,
    );
  let key: Buffer;
  if (stored !== undefined) {
    try {
      key = parseKeyFile(stored);
    } catch {
      throw new UsageError(`the key broker's ${broker.path} is not a job key (32 bytes or 64 hex digits)`);
    }
  } else key = own ?? randomBytes(32);
  // Stored before sealing: data is never sealed under a key the broker does not hold.
  if (stored === undefined || policy !== undefined)
    await putBrokerResource(broker.url, broker.path, key, broker.adminKey, policy);
  const what = stored === undefined ? 'a new job key stored' : 'the job key it holds';
  return {
    key,
    note: `; key broker ${broker.url}: ${what} at ${broker.path}${policy ? ', with its release policy' : ''}`,
  };
}

/** The key to open with: the key file, or the one the key broker holds. */
async function openingKey(options: OwnerKeyOptions): Promise<Buffer> {
  const broker = brokerOptions(options);
  if (broker !== undefined && options.keyFile !== undefined)
    throw new UsageError('--key-file and --kbs exclude each other');
  if (broker === undefined) {
    if (options.keyFile === undefined)
      throw new UsageError('give --key-file FILE, or --kbs URL --key PATH (the key at the key broker)');
    return readJobKey(options.keyFile);
  }
  const stored = await readBrokerResource(broker.url, broker.path, broker.adminKey);
  if (stored === undefined) throw new UsageError(`the key broker has no ${broker.path}`);
  return parseKeyFile(stored);
}

function addBrokerOptions(command: Command): Command {
  return command
    .option(
      '--kbs <URL>',
      'the key broker that holds the job key (its admin API: kbs serve --admin-public-key)',
    )
    .option(
      '--key <PATH>',
      "the job key's resource there: repository/type/tag, or type/tag in repository default",
    )
    .addOption(
      new Option('--admin-key <FILE>', "the broker administrator's Ed25519 private key (PEM)").env(
        'CLOISTER_KBS_ADMIN_KEY',
      ),
    );
}

export function registerDataCommands(program: Command): void {
  const data = program
    .command('data')
    .description('seal input datasets and open sealed job outputs (the data owner)');
  addBrokerOptions(
    data
      .command('seal')
      .description(
        'seal every file of DIR into a dataset of sealed text files (one job partition each), with a key file or the key at a key broker',
      )
      .argument('<DIR>', 'a directory of text files')
      .requiredOption(
        '-o, --output <OUT>',
        'the directory to write the sealed files and _DATASET.sealed into',
      )
      .option('--key-file <FILE>', 'the job key: 32 bytes or 64 hex digits (with --kbs: also stored there)')
      .option('--generate-key', 'write a new random key to --key-file first (mode 0600)')
      .option('--part-size <SIZE>', 'cut larger files into sealed parts of about this size', '16M'),
  )
    .option(
      '--policy <FILE>',
      "with --kbs: the key's release policy (JSON, e.g. the job's MRENCLAVE), stored with it",
    )
    .action(
      async (
        dir: string,
        options: OwnerKeyOptions & {
          output: string;
          generateKey?: boolean;
          partSize: string;
          policy?: string;
        },
      ) => {
        const partBytes = parseBytes('--part-size', options.partSize);
        const { key, note } = await sealingKey(options);
        const sealed = sealDirectory(dir, options.output, key, { partBytes });
        process.stdout.write(
          `dataset ${sealed.dataset}: ${sealed.entries.length} sealed files in ${options.output}${note}\n`,
        );
      },
    );
  addBrokerOptions(
    data
      .command('open')
      .description("decrypt a job's saved output; with --verify-manifest, also prove it complete")
      .argument('<OUT>', 'the directory saveAsTextFile wrote (part files and _MANIFEST.sealed)')
      .option('--key-file <FILE>', 'the job key (or --kbs and --key: the key the broker holds)'),
  )
    .option(
      '--verify-manifest',
      'check the MAC chain, that every task input was used exactly once and the part digests',
    )
    .option(
      '--inputs <DIR>',
      'also check that every file of this sealed dataset was used (implies --verify-manifest)',
    )
    .option(
      '--mrenclave <HEX>',
      'also check that the job enclave that made it had this MRENCLAVE (`cloister job measure`)',
    )
    .option('-o, --output <FILE>', 'write the lines here instead of standard output')
    .action(
      async (
        dir: string,
        options: OwnerKeyOptions & {
          verifyManifest?: boolean;
          inputs?: string;
          mrenclave?: string;
          output?: string;
        },
      ) => {
        if (options.mrenclave !== undefined && !/^[0-9a-fA-F]{64}$/.test(options.mrenclave))
          throw new UsageError(`--mrenclave: 64 hex digits, not ${JSON.stringify(options.mrenclave)}`);
        const opened = openOutput(dir, await openingKey(options), options);
        const text = opened.lines.length > 0 ? `${opened.lines.join('\n')}\n` : '';
        if (options.output) writeFileSync(options.output, text);
        else process.stdout.write(text);
        if (opened.manifest) {
          const tasks = opened.manifest.actions.reduce((n, a) => n + a.records.length, 0);
          process.stderr.write(
            `cloister: manifest verified: job ${opened.job} (job enclave MRENCLAVE ${opened.manifest.bundle}), ` +
              `${opened.manifest.actions.length} actions, ${tasks} tasks, ` +
              `every input used exactly once${options.inputs ? ', every file of the dataset read' : ''}\n`,
          );
        }
      },
    );
}
