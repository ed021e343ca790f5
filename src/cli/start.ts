/**
 * The `cloister` executable (dist/cli.cjs, CommonJS: Node reaches its first line ~4 ms sooner than
 * an ES module's). The commands that launch an enclave, `run` and `demo`, run from the run bundle
 * (`dist/cli-run.cjs`, run-bundle.ts), one script compiled with its code cache; every other command
 * from the ES module build (main.ts). docs/architecture.md, "Start-up", has the timeline.
 */
import { join } from 'node:path';
import { packageRoot } from '../host/package-files.ts';
import { runFromRunBundle } from './run-bundle.ts';

const LAUNCHING_COMMANDS = ['run', 'demo'];

const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
if (command !== undefined && LAUNCHING_COMMANDS.includes(command)) {
  try {
    runFromRunBundle(join(packageRoot(), 'dist'));
  } catch (error) {
    process.stderr.write(`cloister: error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
} else {
  import('./main.ts').catch((error: unknown) => {
    process.stderr.write(`cloister: error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
