/**
 * Entry of the run bundle (`dist/cli-run.cjs`, see run-bundle.ts): `cloister run` and `demo`. It
 * first starts the enclave Worker, and the host-call thread if the run will likely need one
 * (src/host/run-threads.ts), so that their boot overlaps loading the rest of the CLI, reading the
 * options and measuring; then it loads and runs the command line. docs/architecture.md,
 * "Start-up", has the timeline.
 */
import { DEFAULT_MEMORY_MIB } from '../interface/run-config.ts';
import { prestartRunThreads } from '../host/run-threads.ts';

/**
 * Options after which a run most likely has host files or devices, and so a host-call server thread
 * (a guess, only for speed: a wrong one costs a thread's start-up, never a different run).
 */
const HOST_IO_OPTION = /^--(dir|volume|config|net|kbs)(=|$)/;

try {
  prestartRunThreads(
    DEFAULT_MEMORY_MIB,
    process.argv.slice(2).some((arg) => HOST_IO_OPTION.test(arg)),
  );
} catch {
  // Nothing started (dist/ not built, say): the launch starts its threads, or says why it cannot.
}
// Loaded after the threads started (in this bundle, an import runs the module's code only now);
// `run` and `demo` need no command group.
void import('./program.ts').then(({ main }) => main(process.argv, {}));
