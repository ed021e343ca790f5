/** The `cloister` command. */
import { Command, CommanderError, Option } from 'commander';
import { ExitKind, TRAP_STATUS } from '../interface/exit.ts';
import { launch, measureRun } from '../host/launcher.ts';
import { SIM_WARNING } from '../tee/sim/enclave.ts';
import { UsageError, DEFAULT_MEMORY_MIB, type RunOptions } from './run-options.ts';
import { looksLikeImage, type DiskOptions } from './disk-options.ts';
import { planLaunch } from './launch-plan.ts';
import { formatTcb, measureTcb } from './tcb.ts';
import { runDemo } from './demo.ts';
import { registerImageCommands } from './image.ts';
import { registerVolumeCommands } from './volume.ts';
import { registerAttestCommands } from './attest.ts';
import { registerKbsCommands } from './kbs.ts';

interface GlobalOptions {
  verbose?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function addRunOptions(command: Command): Command {
  return command
    .option('--dir <HOST::GUEST>', 'mount a host directory (untrusted storage) at GUEST; repeatable', collect)
    .option('--tmpfs <GUEST>', 'mount an empty in-enclave file system at GUEST; repeatable', collect)
    .option(
      '--env <NAME[=VALUE]>',
      'set an environment variable (NAME alone passes the host value); repeatable',
      collect,
    )
    .option('--memory <SIZE>', `enclave memory limit, e.g. 256M or 1G (default ${DEFAULT_MEMORY_MIB}M)`)
    .option(
      '--config <FILE>',
      'JSON file with the same options: {"dir":[],"tmpfs":[],"env":{},"memory":"256M"}',
    )
    .option('--key-file <FILE>', "key file of the root image's LUKS2 container (as cryptsetup --key-file)")
    .option('--passphrase-file <FILE>', 'passphrase of the root image (first line of FILE)')
    .option('--root-hash <HEX>', 'dm-verity root hash of the image (default: from IMG.json)')
    .option('--hash-offset <BYTES>', 'where the verity superblock starts in the image (tree appended)')
    .option('--hash-file <FILE>', 'the verity hash tree, when it is a separate file')
    .option('--overlay', 'a writable in-enclave tmpfs over the read-only root image')
    .option('--kbs <URL>', 'key broker that releases the root image key after attesting the enclave')
    .option('--resource <PATH>', "the key's resource path at the key broker, e.g. default/disk/app")
    .option('--sig <FILE>', "the enclave's SIGSTRUCT (cloister sign): its signer, product id and SVN")
    .option('--volume <VOLUME::GUEST>', 'mount a writable encrypted volume at GUEST; repeatable', collect)
    .option('--volume-key-file <FILE>', 'key of each --volume, in order (one for all); repeatable', collect)
    .addOption(new Option('--backend <NAME>', 'TEE backend').choices(['sim']).default('sim'));
}

/**
 * With a disk image, options may also follow it up to `--` (`run app.img --key-file k -- /bin/app`):
 * the program inside the image only gets what follows `--`. A .wasm program gets everything.
 */
function withImageOptions<T extends object>(file: string, args: string[], options: T): [string[], T] {
  const cut = args.indexOf('--');
  const treeNamed = args.slice(0, cut).some((a) => /^--(root-hash|hash-file)(=|$)/.test(a));
  if (cut <= 0 || !looksLikeImage(file, treeNamed)) return [args, options];
  const parser = addRunOptions(new Command().exitOverride().allowExcessArguments(false)).configureOutput({
    writeErr: () => {},
  });
  let extra: Record<string, unknown>;
  try {
    extra = parser.parse(args.slice(0, cut), { from: 'user' }).opts();
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^error: /, ''));
  }
  const merged: Record<string, unknown> = { ...(options as Record<string, unknown>) };
  for (const [key, value] of Object.entries(extra)) {
    const before = merged[key];
    merged[key] = Array.isArray(before) && Array.isArray(value) ? [...before, ...value] : value;
  }
  return [args.slice(cut), merged as T];
}

async function runCommand(
  program: string,
  args: string[],
  options: RunOptions & DiskOptions & { traceHost?: boolean },
): Promise<number> {
  const plan = planLaunch(program, ...withImageOptions(program, args, options));
  process.stderr.write(`cloister: ${SIM_WARNING}\n`);
  const result = await launch(plan);
  if (options.traceHost) process.stderr.write(`\n${result.trace.format()}\n`);
  switch (result.kind) {
    case ExitKind.PROGRAM:
      return result.status;
    case ExitKind.TRAP:
      process.stderr.write(`${result.message}\n`);
      return TRAP_STATUS;
    default:
      process.stderr.write(`cloister: error: ${result.message}\n`);
      return result.status === 0 ? 1 : result.status;
  }
}

export function buildProgram(): Command {
  const program = new Command('cloister')
    .description(
      'Run WebAssembly/WASI programs inside an enclave.\n' +
        'Backend `sim` (the only one here): no hardware isolation — for development and testing only.',
    )
    .option('-v, --verbose', 'print stack traces of errors')
    .enablePositionalOptions()
    .showHelpAfterError();

  addRunOptions(
    program
      .command('run')
      .description('run a WASI command in an enclave; everything after PROGRAM goes to the program')
      .argument('<PROGRAM>', 'the .wasm file, or a disk image: then ARGS start with the program path in it')
      .argument('[ARGS...]', 'arguments for the program')
      .option('--trace-host', 'print the host calls made, with counts and bytes, by class'),
  )
    .passThroughOptions()
    .action(async (file: string, args: string[], options: RunOptions & { traceHost?: boolean }) => {
      process.exitCode = await runCommand(file, args, options);
    });

  addRunOptions(
    program
      .command('measure')
      .description('print the enclave measurement (MRENCLAVE, hex) of a program with its run options')
      .argument('<PROGRAM>', 'the .wasm file')
      .argument('[ARGS...]', 'arguments for the program (they are measured)'),
  )
    .passThroughOptions()
    .action((file: string, args: string[], options: RunOptions & DiskOptions) => {
      const plan = planLaunch(file, ...withImageOptions(file, args, options));
      process.stdout.write(`${hex(measureRun(plan.wasm, plan.config))}\n`);
    });

  program
    .command('tcb')
    .description('size of the trusted code: enclave sources and the measured bundle')
    .action(() => {
      process.stdout.write(`${formatTcb(measureTcb())}\n`);
    });

  program
    .command('demo')
    .description('run the bundled SQLite shell in an enclave on a short SQL script')
    .action(async () => {
      process.exitCode = await runDemo(runCommand);
    });

  registerImageCommands(program);
  registerVolumeCommands(program);
  registerAttestCommands(program);
  registerKbsCommands(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    const verbose = (program.opts() as GlobalOptions).verbose;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`cloister: error: ${message}\n`);
    if (verbose && error instanceof Error && !(error instanceof UsageError))
      process.stderr.write(`${error.stack}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}

await main(process.argv);
