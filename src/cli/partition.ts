/** `cloister partition DIR --out DIR` and `cloister partition explain DIR FUNCTION`. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { analyze } from '../partition/analyze.ts';
import { PartitionError } from '../partition/errors.ts';
import { explainPath, findFunction, formatPath } from '../partition/explain.ts';
import { writePartitioned } from '../partition/generate.ts';
import { bundlePartitionedEnclave } from '../partition/enclave-bundle.ts';
import { planPartition } from '../partition/plan.ts';
import { formatTable, htmlReport } from '../partition/report.ts';
import { UsageError } from './run-options.ts';

interface PartitionFlags {
  out?: string;
  report?: string;
  include?: string;
  integrity: boolean;
  allowTypeErrors?: boolean;
}

/** The application's name: package.json's, else its folder's. */
function appName(root: string): string {
  const pkg = join(root, 'package.json');
  const name = existsSync(pkg)
    ? (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name
    : undefined;
  return typeof name === 'string' ? name : basename(root);
}

/** Partitioner errors name a file and line of the user's source: they are usage errors. */
function reported<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof PartitionError) throw new UsageError(error.message);
    throw error;
  }
}

export function registerPartitionCommands(program: Command): void {
  const partition = program
    .command('partition')
    .description(
      'move the code that touches data marked @sensitive into an enclave (analysis, interface file, stubs)',
    )
    .argument('[DIR]', 'the application (TypeScript, or JavaScript with JSDoc)')
    .option('-o, --out <DIR>', 'where to write the partitioned application')
    .option('--report <FILE>', 'also write an HTML report')
    .option(
      '--include <PATHS>',
      'comma-separated files or folders of the application (default: package.json files, else all but tests)',
    )
    .option(
      '--allow-type-errors',
      'analyse source with type errors (not syntax errors); each is listed where precision was given up',
    )
    .option(
      '--no-integrity',
      'confidentiality only: leave out the backward slice (code that can affect sensitive data)',
    )
    .action(async (dir: string | undefined, flags: PartitionFlags) => {
      if (dir === undefined) throw new UsageError('partition: missing DIR');
      if (flags.out === undefined) throw new UsageError('partition: --out DIR is required');
      const out = flags.out;
      const application = reported(() => {
        const analysis = analyze(dir, {
          include: flags.include?.split(','),
          allowTypeErrors: flags.allowTypeErrors,
        });
        const plan = planPartition(analysis, { integrity: flags.integrity });
        writePartitioned(analysis, plan, out);
        if (flags.report !== undefined)
          writeFileSync(flags.report, htmlReport(appName(analysis.app.root), analysis, plan));
        process.stdout.write(formatTable(appName(analysis.app.root), plan));
        return appName(analysis.app.root);
      });
      const bundle = await bundlePartitionedEnclave(out, application);
      const stubbed = bundle.stubbedNodeModules.join(', ') || 'none';
      process.stdout.write(
        `${'enclave MRENCLAVE'.padEnd(35)}${Buffer.from(bundle.mrenclave).toString('hex')}\n` +
          `${'Node modules stubbed in enclave'.padEnd(35)}${stubbed}\n` +
          `${'start the host with'.padEnd(35)}node --import ./cloister/start.mjs … (in ${join(out, 'host')})\n`,
      );
    });
  partition
    .command('explain')
    .description('print the dataflow path from a sensitive source to FUNCTION, one file:line per step')
    .argument('<DIR>', 'the application')
    .argument('<FUNCTION>', 'a function: name, Class.method, or file:line:name')
    .option('--include <PATHS>', 'comma-separated files or folders of the application')
    .option('--allow-type-errors', 'analyse source with type errors (not syntax errors)')
    .action((dir: string, name: string, flags: { include?: string; allowTypeErrors?: boolean }) => {
      reported(() => {
        const analysis = analyze(dir, {
          include: flags.include?.split(','),
          allowTypeErrors: flags.allowTypeErrors,
        });
        const id = findFunction(analysis, name);
        process.stdout.write(formatPath(analysis, id, explainPath(analysis, id)));
      });
    });
}
