/**
 * The `cloister` executable (dist/cli.js). For a command that runs a program it first starts the
 * enclave Worker, and the host-call thread if the run will likely need one (src/host/run-threads.ts),
 * so that their boot overlaps loading the rest of the CLI, reading the options and measuring; then
 * it loads the CLI (main.ts). docs/architecture.md, "Start-up", has the timeline.
 */
import { DEFAULT_MEMORY_MIB } from '../interface/run-config.ts';
import { prestartRunThreads } from '../host/run-threads.ts';

/** The commands that launch one enclave with the default limits unless their options say otherwise. */
const LAUNCHING_COMMANDS = ['run', 'demo'];

/**
 * Options after which a run most likely has host files or devices, and so a host-call server thread
 * (a guess, only for speed: a wrong one costs a thread's start-up, never a different run).
 */
const HOST_IO_OPTION = /^--(dir|volume|config|net|kbs)(=|$)/;

const args = process.argv.slice(2);
const command = args.find((arg) => !arg.startsWith('-'));
if (command !== undefined && LAUNCHING_COMMANDS.includes(command)) {
  try {
    prestartRunThreads(
      DEFAULT_MEMORY_MIB,
      args.some((arg) => HOST_IO_OPTION.test(arg)),
    );
  } catch {
    // Nothing started (dist/ not built, say): the launch starts its threads, or says why it cannot.
  }
}
await import('./main.ts');
