/** The `cloister` command. */
import { Command, CommanderError, Option } from 'commander';
import { ExitKind, TRAP_STATUS } from '../interface/exit.ts';
import { launch, measureRun } from '../host/launcher.ts';
import { SIM_WARNING } from '../tee/sim/enclave.ts';
import { prepareRun, readProgram, UsageError, DEFAULT_MEMORY_MIB, type RunOptions } from './run-options.ts';
import { formatTcb, measureTcb } from './tcb.ts';
import { runDemo } from './demo.ts';
import { registerImageCommands } from './image.ts';

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
    .addOption(new Option('--backend <NAME>', 'TEE backend').choices(['sim']).default('sim'));
}

/** Splits `cloister run [options] PROGRAM [--] ARGS...`: everything after PROGRAM is the program's. */
function programArgs(args: string[]): string[] {
  return args[0] === '--' ? args.slice(1) : args;
}

async function runCommand(
  program: string,
  args: string[],
  options: RunOptions & { traceHost?: boolean },
): Promise<number> {
  const prepared = prepareRun(program, programArgs(args), options);
  const wasm = readProgram(program);
  process.stderr.write(`cloister: ${SIM_WARNING}\n`);
  const result = await launch({ wasm, config: prepared.config, hostDirs: prepared.hostDirs });
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
      .argument('<PROGRAM>', 'the .wasm file')
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
    .action((file: string, args: string[], options: RunOptions) => {
      const prepared = prepareRun(file, programArgs(args), options);
      process.stdout.write(`${hex(measureRun(readProgram(file), prepared.config))}\n`);
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
