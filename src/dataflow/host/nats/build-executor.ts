/**
 * Builds the executor process of `nats://` masters (nats-executor.ts) into one script under this
 * package's dist/, where it finds the JS-enclave runtime it launches the job enclave with.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { dataflowSources } from '../bundle.ts';

export async function buildNatsExecutor(root: string): Promise<string> {
  const { build } = await import('esbuild');
  const dir = join(root, 'dist', 'dataflow-executors');
  mkdirSync(dir, { recursive: true });
  const script = join(dir, `nats-executor-${randomBytes(8).toString('hex')}.mjs`);
  await build({
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    legalComments: 'none',
    logLevel: 'silent',
    entryPoints: [join(dataflowSources(), 'host', 'nats', 'nats-executor.ts')],
    outfile: script,
    // The NATS client's key library is CommonJS and requires node:crypto.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  return script;
}
