/**
 * Entry of the run bundle (`dist/cli-run.cjs`, see run-bundle.ts): `cloister run` and `demo`.
 * `cli.cjs` has started the run's threads already and hands them over (this bundle has its own copy
 * of the modules that hold them); then the command line runs. docs/architecture.md, "Start-up",
 * has the timeline.
 */
import { adoptRunThreads, type PrestartedThreads } from '../host/run-threads.ts';

/** Runs `process.argv` with the threads `cli.cjs` prestarted. */
export function runMain(threads: PrestartedThreads): void {
  adoptRunThreads(threads);
  // `run` and `demo` need no command group. (In this bundle an import runs the module's code
  // only now, after the hand-over.)
  void import('./program.ts').then(({ main }) => main(process.argv, {}));
}
