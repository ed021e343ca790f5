/** `cloister job run | measure`: run a dataflow job file in JS enclaves, or print its measurement. */
import type { Command } from 'commander';
import { buildJobEnclave } from '../dataflow/host/bundle.ts';
import { keySourceOf, parseMaster, runJob } from '../dataflow/host/run-job.ts';
import { BrokerAdminError, resourcePath } from '../dataflow/owner-broker.ts';
import { parseBytes, readJobKey } from './data.ts';
import { UsageError } from './run-options.ts';

interface KeyOptions {
  kbs?: string;
  resource?: string;
  keyFile?: string;
}

interface JobRunOptions extends KeyOptions {
  master: string;
  executors: string;
  replicas: string;
  memory: string;
}

const KEY_FILE_WARNING =
  'cloister: --key-file is for local development: the job key passes through this host into the ' +
  'enclaves (use --kbs URL --resource PATH to have only attested enclaves get it)\n';
const SIM_WARNING =
  'cloister: the enclaves run on the sim backend: no hardware isolation, this host can read their memory\n';

function keyOptions(options: KeyOptions): { kbs?: { url: string; resource: string }; jobKey?: Buffer } {
  if (options.kbs !== undefined || options.resource !== undefined) {
    if (options.kbs === undefined || options.resource === undefined)
      throw new UsageError('--kbs URL and --resource PATH go together');
    if (options.keyFile !== undefined) throw new UsageError('--kbs and --key-file exclude each other');
    if (!/^https?:\/\/[^/\s]+\/?$/.test(options.kbs))
      throw new UsageError(`--kbs: not a broker URL: ${options.kbs}`);
    let resource: string;
    try {
      resource = resourcePath(options.resource);
    } catch (error) {
      if (error instanceof BrokerAdminError) throw new UsageError(`--resource: ${error.message}`);
      throw error;
    }
    return { kbs: { url: options.kbs, resource } };
  }
  if (options.keyFile === undefined)
    throw new UsageError('give --kbs URL --resource PATH (or --key-file FILE for local development)');
  return { jobKey: readJobKey(options.keyFile) };
}

function addKeyOptions(command: Command): Command {
  return command
    .option('--kbs <URL>', 'the key broker the job enclaves get the job key from, after attestation')
    .option(
      '--resource <PATH>',
      "the job key's resource at the broker: repository/type/tag, or type/tag in repository default",
    )
    .option(
      '--key-file <FILE>',
      'LOCAL DEVELOPMENT ONLY: the job key (32 bytes or 64 hex digits), passed through this host into the enclaves',
    );
}

export function registerJobCommands(program: Command): void {
  const job = program
    .command('job')
    .description('run confidential dataflow jobs (RDD API, sealed data, executors in JS enclaves)');
  addKeyOptions(
    job
      .command('run')
      .description(
        'bundle JOB (a file with `export default async function job(sc)`) into a measured JS enclave app and run it',
      )
      .argument('<JOB>', 'the job file (.ts or .js)')
      .argument('[ARGS...]', 'arguments for the job (sc.args), after --')
      .requiredOption(
        '--master <MASTER>',
        'local[N]: N executor enclaves in this process; nats://host:port[,host:port...]: executor processes (one enclave each) over NATS JetStream (several servers: one cluster)',
      )
      .option('--executors <N>', 'executor processes to start for a nats:// master', '2')
      .option(
        '--replicas <N>',
        "nats://: copies of the job's stream, KV bucket and object store (3 on a 3-node JetStream cluster)",
        '1',
      )
      .option('--memory <SIZE>', 'memory per task before it spills to sealed files', '64M'),
  ).action(async (file: string, args: string[], options: JobRunOptions) => {
    parseMaster(options.master);
    const executors = Number(options.executors);
    if (!Number.isInteger(executors) || executors < 1 || executors > 64)
      throw new UsageError(`--executors: 1 to 64, not ${JSON.stringify(options.executors)}`);
    const replicas = Number(options.replicas);
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5)
      throw new UsageError(`--replicas: 1 to 5, not ${JSON.stringify(options.replicas)}`);
    const keys = keyOptions(options);
    if (keys.jobKey) process.stderr.write(KEY_FILE_WARNING);
    process.stderr.write(SIM_WARNING);
    const run = await runJob({
      jobFile: file,
      master: options.master,
      ...keys,
      args,
      memoryBytes: parseBytes('--memory', options.memory),
      executors,
      replicas,
      onMeasured: (mrenclave) => process.stderr.write(`cloister: job enclave MRENCLAVE ${mrenclave}\n`),
    });
    const { tasks, retries, spilledRuns } = run.stats;
    process.stderr.write(
      `cloister: job ${run.jobId} done: ${run.actions} actions, ${tasks} tasks (${retries} retried, ${spilledRuns} spilled runs); ` +
        `MRENCLAVE ${run.mrenclave}${run.outputs.length ? `; sealed output in ${run.outputs.join(', ')}` : ''}\n`,
    );
  });
  job
    .command('measure')
    .description(
      "print the MRENCLAVE of JOB's enclave (for the key broker's policy); give the same --kbs and --resource as to `job run`",
    )
    .argument('<JOB>', 'the job file (.ts or .js)')
    .option('--kbs <URL>', 'the key broker URL the job will be run with')
    .option('--resource <PATH>', "the job key's resource at the broker (type/tag: in repository default)")
    .option('--key-file-mode', 'measure the local-development build (`job run --key-file`) instead')
    .action(async (file: string, options: KeyOptions & { keyFileMode?: boolean }) => {
      if (options.keyFileMode && (options.kbs || options.resource))
        throw new UsageError('--key-file-mode excludes --kbs and --resource');
      const keys = options.keyFileMode
        ? { jobKey: Buffer.alloc(32) }
        : keyOptions({ kbs: options.kbs, resource: options.resource });
      const built = await buildJobEnclave(file, keySourceOf(keys));
      process.stdout.write(`${built.mrenclave}\n`);
    });
}
