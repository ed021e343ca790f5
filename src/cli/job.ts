/** `cloister job run`: run a dataflow job file. */
import type { Command } from 'commander';
import { parseMaster, runJob } from '../dataflow/host/run-job.ts';
import { parseBytes, readJobKey } from './data.ts';
import { UsageError } from './run-options.ts';

interface JobRunOptions {
  master: string;
  executors: string;
  keyFile: string;
  memory: string;
}

export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('run confidential dataflow jobs (RDD API, sealed data)');
  job
    .command('run')
    .description('bundle JOB (a file with `export default async function job(sc)`) and run it')
    .argument('<JOB>', 'the job file (.ts or .js)')
    .argument('[ARGS...]', 'arguments for the job (sc.args), after --')
    .requiredOption(
      '--master <MASTER>',
      'local[N]: N executor threads in this process; nats://host:port: executor processes over NATS JetStream',
    )
    .option('--executors <N>', 'executor processes to start for a nats:// master', '2')
    .requiredOption('--key-file <FILE>', 'the job key: 32 bytes or 64 hex digits')
    .option('--memory <SIZE>', 'memory per task before it spills to sealed files', '64M')
    .action(async (file: string, args: string[], options: JobRunOptions) => {
      const master = parseMaster(options.master);
      const executors = Number(options.executors);
      if (!Number.isInteger(executors) || executors < 1 || executors > 64)
        throw new UsageError(`--executors: 1 to 64, not ${JSON.stringify(options.executors)}`);
      process.stderr.write(
        master.kind === 'local'
          ? 'cloister: executors run as worker threads of this process, not in enclaves yet; ' +
              'data outside them is sealed, but this host can read their memory\n'
          : 'cloister: executors run as plain processes, not in enclaves yet; ' +
              'what crosses NATS is sealed, but their hosts can read their memory\n',
      );
      const run = await runJob({
        jobFile: file,
        master: options.master,
        jobKey: readJobKey(options.keyFile),
        args,
        memoryBytes: parseBytes('--memory', options.memory),
        executors,
      });
      const { tasks, retries, spilledRuns } = run.stats;
      process.stderr.write(
        `cloister: job ${run.jobId} done: ${run.actions} actions, ${tasks} tasks (${retries} retried, ${spilledRuns} spilled runs); ` +
          `bundle sha256 ${run.bundleDigest}${run.outputs.length ? `; sealed output in ${run.outputs.join(', ')}` : ''}\n`,
      );
    });
}
