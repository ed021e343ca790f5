/**
 * The `cloister` command line: every command, with the heavy command groups (`command-groups.ts`)
 * passed in, so that the run bundle (`run-main.ts`), which has none, starts without them.
 */
import { Command, CommanderError } from 'commander';
import { addRunOnlyOptions, addRunOptions } from './run-command-options.ts';
import { ExitKind, TRAP_STATUS } from '../interface/exit.ts';
import { launch, measureRun } from '../host/launcher.ts';
import { SIM_WARNING } from '../tee/sim/enclave.ts';
import { UsageError, type RunOptions } from './run-options.ts';
import type { DiskOptions } from './disk-options.ts';
import { planCommandLine } from './launch-plan.ts';
import { explainPlan } from './explain.ts';
import { formatTcb, measureTcb } from './tcb.ts';
import { runDemo } from './demo.ts';
import { versionText } from './version.ts';

interface GlobalOptions {
  verbose?: boolean;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

async function runCommand(
  program: string | undefined,
  args: string[],
  options: RunOptions & DiskOptions & { traceHost?: boolean; backend?: string },
): Promise<number> {
  const plan = await planCommandLine(program, args, options, {
    lock: true,
    commandOptions: addRunOnlyOptions,
  });
  const backend = options.backend ?? 'sim';
  if (backend === 'sim') process.stderr.write(`cloister: ${SIM_WARNING}\n`);
  // Unlocking an encrypted root image derives its key for seconds: a bar on a terminal's stderr.
  const unlockProgress =
    plan.config.root?.luksUuid != null && process.stderr.isTTY
      ? (await import('./progress-bar.ts')).stderrProgress('unlocking', { unit: 'percent' })
      : undefined;
  let result;
  try {
    result = await launch({ ...plan, backend, unlockProgress });
  } finally {
    plan.release();
  }
  if (plan.options.traceHost) process.stderr.write(`\n${result.trace.format()}\n`);
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

/** Registers one command group's commands on the program. */
export type Register = (program: Command) => void;

/** Command groups loaded on demand, by group name. */
export type CommandGroups = Record<string, () => Promise<Register>>;

const groupOfCommand: Record<string, string> = { sign: 'attest', quote: 'attest' };

/** The groups `argv` needs: the one its command belongs to, or all of them when it names none. */
async function loadCommandGroups(
  program: Command,
  argv: string[],
  commandGroups: CommandGroups,
): Promise<void> {
  const command = argv.slice(2).find((a) => !a.startsWith('-'));
  const core = ['run', 'measure', 'tcb', 'demo'];
  if (command !== undefined && core.includes(command)) return;
  const group = command === undefined ? undefined : (groupOfCommand[command] ?? command);
  const names = group !== undefined && group in commandGroups ? [group] : Object.keys(commandGroups);
  for (const name of names) (await commandGroups[name]())(program);
}

function buildProgram(): Command {
  const program = new Command('cloister')
    .description(
      'Run WebAssembly/WASI programs inside an enclave.\n' +
        'Backend `sim` (the only one here): no hardware isolation — for development and testing only.',
    )
    .option('-v, --verbose', 'print stack traces of errors')
    .version(versionText(), '-V, --version', 'print the version, the Node version and the backends')
    .enablePositionalOptions()
    // Every command (subcommands inherit this): usage errors are one line and exit with 2.
    .showHelpAfterError(false)
    .configureOutput({ outputError: (text, write) => write(`cloister: ${text}`) })
    .exitOverride((error) => {
      throw error.exitCode === 1 ? new CommanderError(2, error.code, error.message) : error;
    });

  addRunOptions(
    addRunOnlyOptions(
      program
        .command('run')
        .description('run a WASI command in an enclave; everything after PROGRAM goes to the program')
        .argument(
          '[PROGRAM]',
          'the .wasm file, or a disk image: then ARGS start with the program path in it (default: from --config)',
        )
        .argument('[ARGS...]', 'arguments for the program'),
    ),
  )
    .passThroughOptions()
    .action(
      async (file: string | undefined, args: string[], options: RunOptions & { traceHost?: boolean }) => {
        process.exitCode = await runCommand(file, args, options);
      },
    );

  addRunOptions(
    program
      .command('measure')
      .description('print the enclave measurement (MRENCLAVE, hex) of a program with its run options')
      .argument(
        '[PROGRAM]',
        'the .wasm file, or a disk image: then ARGS start with the program path in it (default: from --config)',
      )
      .argument('[ARGS...]', 'arguments for the program (they are measured)')
      .option('--explain', 'also show what is measured and what is host-only'),
  )
    .passThroughOptions()
    .action(
      async (
        file: string | undefined,
        args: string[],
        options: RunOptions & DiskOptions & { explain?: boolean },
      ) => {
        const plan = await planCommandLine(file, args, options);
        const mrenclave = hex(measureRun(plan.wasm, plan.config));
        process.stdout.write(options.explain ? explainPlan(plan, mrenclave) : `${mrenclave}\n`);
      },
    );

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

  return program;
}

/** Runs the command line `argv` (process.argv's layout) with these command groups. */
export async function main(argv: string[], commandGroups: CommandGroups): Promise<void> {
  const program = buildProgram();
  try {
    await loadCommandGroups(program, argv, commandGroups);
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
