/** `cloister data seal | open`: the data owner's side of confidential dataflow jobs. */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseKeyFile } from '../dataflow/keyring.ts';
import { openOutput, sealDirectory } from '../dataflow/owner.ts';
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

export function registerDataCommands(program: Command): void {
  const data = program
    .command('data')
    .description('seal input datasets and open sealed job outputs (the data owner)');
  data
    .command('seal')
    .description('seal every file of DIR into a dataset of sealed text files (one job partition each)')
    .argument('<DIR>', 'a directory of text files')
    .requiredOption('-o, --output <OUT>', 'the directory to write the sealed files and _DATASET.sealed into')
    .requiredOption('--key-file <FILE>', 'the job key: 32 bytes or 64 hex digits')
    .option('--generate-key', 'write a new random key to --key-file first (mode 0600)')
    .option('--part-size <SIZE>', 'cut larger files into sealed parts of about this size', '16M')
    .action(
      (
        dir: string,
        options: { output: string; keyFile: string; generateKey?: boolean; partSize: string },
      ) => {
        if (options.generateKey) {
          if (existsSync(options.keyFile))
            throw new UsageError(`${options.keyFile} exists; refusing to overwrite a key`);
          writeFileSync(options.keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
        }
        const key = readJobKey(options.keyFile);
        const sealed = sealDirectory(dir, options.output, key, {
          partBytes: parseBytes('--part-size', options.partSize),
        });
        process.stdout.write(
          `dataset ${sealed.dataset}: ${sealed.entries.length} sealed files in ${options.output}\n`,
        );
      },
    );
  data
    .command('open')
    .description("decrypt a job's saved output; with --verify-manifest, also prove it complete")
    .argument('<OUT>', 'the directory saveAsTextFile wrote (part files and _MANIFEST.sealed)')
    .requiredOption('--key-file <FILE>', 'the job key')
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
      (
        dir: string,
        options: {
          keyFile: string;
          verifyManifest?: boolean;
          inputs?: string;
          mrenclave?: string;
          output?: string;
        },
      ) => {
        if (options.mrenclave !== undefined && !/^[0-9a-fA-F]{64}$/.test(options.mrenclave))
          throw new UsageError(`--mrenclave: 64 hex digits, not ${JSON.stringify(options.mrenclave)}`);
        const opened = openOutput(dir, readJobKey(options.keyFile), options);
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
