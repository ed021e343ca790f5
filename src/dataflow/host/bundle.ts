/**
 * Bundling a job file (esbuild): the job with `cloister/dataflow` and the trusted runtime, into one
 * self-contained ES module that the job program and every executor load — the code a JS enclave
 * will measure. Its SHA-256 goes into the manifest. Also builds the executor thread's host script.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** src/dataflow, found from this module both in the source tree and in the built dist/ chunks. */
export function dataflowSources(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'cloister') return join(dir, 'src', 'dataflow');
    } catch {
      continue;
    }
  }
  throw new Error('cannot find the cloister package (src/dataflow) to bundle the job with');
}

export interface BuiltJob {
  readonly bundle: string;
  readonly executorScript: string;
  /** The executor process for nats:// masters. */
  readonly natsExecutorScript: string;
  /** SHA-256 of the bundle, hex. */
  readonly digest: string;
}

/** `plaintext`: the unencrypted baseline for benchmarks (seal.ts), a bundle with another digest. */
export async function buildJob(jobFile: string, outDir: string, plaintext = false): Promise<BuiltJob> {
  const { build } = await import('esbuild');
  const sources = dataflowSources();
  const common = {
    bundle: true,
    platform: 'node' as const,
    target: 'node20',
    format: 'esm' as const,
    legalComments: 'none' as const,
    logLevel: 'silent' as const,
    alias: { 'cloister/dataflow': join(sources, 'index.ts') },
  };
  const bundle = join(outDir, 'job.mjs');
  const entry =
    `export { default as job } from ${JSON.stringify(resolve(jobFile))};\n` +
    `export { runTask, runProgram } from ${JSON.stringify(join(sources, 'runtime.ts'))};\n`;
  try {
    await build({
      ...common,
      define: { CLOISTER_DATAFLOW_PLAINTEXT: String(plaintext) },
      stdin: { contents: entry, resolveDir: dirname(resolve(jobFile)), loader: 'ts' },
      outfile: bundle,
    });
  } catch (error) {
    const errors =
      (error as { errors?: { text: string; location?: { file: string; line: number } }[] }).errors ?? [];
    const detail = errors
      .map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
      .join('; ');
    throw new Error(`cannot bundle ${jobFile}: ${detail || (error as Error).message}`);
  }
  const executorScript = join(outDir, 'executor.mjs');
  await build({
    ...common,
    entryPoints: [join(sources, 'host', 'worker-executor.ts')],
    outfile: executorScript,
  });
  const natsExecutorScript = join(outDir, 'nats-executor.mjs');
  await build({
    ...common,
    entryPoints: [join(sources, 'host', 'nats', 'nats-executor.ts')],
    outfile: natsExecutorScript,
    // The NATS client's key library is CommonJS and requires node:crypto.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
  const digest = createHash('sha256').update(readFileSync(bundle)).digest('hex');
  return { bundle, executorScript, natsExecutorScript, digest };
}
