/**
 * Bundling a job file into its JS enclave application: the job with `cloister/dataflow` and the
 * trusted runtime (enclave-app.ts), one CommonJS bundle that `bundleJsApp` builds (refusing Node
 * I/O imports) and that the job program's enclave and every executor enclave run. Its MRENCLAVE
 * (runtime + bundle + the measured configuration, which names the key source) is what the key
 * broker's policy names and what the manifest records.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleJsApp, measureJsApp, type JsEnclaveConfig } from '../../host/js-enclave.ts';
import type { JobEnclaveSettings } from '../enclave-app.ts';

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

/** Where executor enclaves get the job key. */
export type KeySource =
  | { source: 'kbs'; url: string; resource: string }
  /** Local development: the host reads a key file and hands the key in. */
  | { source: 'file' };

export interface JobEnclave {
  /** The application bundle (source text). */
  readonly app: string;
  readonly config: Partial<JsEnclaveConfig>;
  /** MRENCLAVE, hex. */
  readonly mrenclave: string;
}

/** Large enough for a sealed input file of `data seal`'s default part size and more. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export function jobEnclaveConfig(key: KeySource): Partial<JsEnclaveConfig> {
  const settings: JobEnclaveSettings = {
    app: 'cloister-dataflow/v1',
    key: key.source === 'kbs' ? { source: 'kbs', resource: key.resource } : { source: 'file' },
  };
  return {
    maxMessageBytes: MAX_MESSAGE_BYTES,
    memoryMiB: 2048,
    entries: { executeTask: [1, 1], newJob: [0, 0], runJobProgram: [1, 1] },
    settings: settings as unknown as JsEnclaveConfig['settings'],
    ...(key.source === 'kbs' ? { kbs: { url: key.url } } : {}),
  };
}

/**
 * `plaintext`: the unencrypted baseline for benchmarks (seal.ts), a bundle that measures otherwise.
 * Bundle paths are relative to the job file's directory, so the measurement depends on the job file,
 * this package's sources and where the two are relative to each other, not on the machine.
 */
export async function buildJobEnclave(
  jobFile: string,
  key: KeySource,
  plaintext = false,
): Promise<JobEnclave> {
  const sources = dataflowSources();
  const job = resolve(jobFile);
  const entry =
    `import job from ${JSON.stringify(job)};\n` +
    `import { jobEnclaveEntries } from ${JSON.stringify(join(sources, 'enclave-app.ts'))};\n` +
    `export const { executeTask, newJob, runJobProgram } = jobEnclaveEntries(job);\n`;
  let app: string;
  try {
    app = await bundleJsApp(join(dirname(job), '[cloister job entry].ts'), {
      contents: entry,
      alias: { 'cloister/dataflow': join(sources, 'index.ts') },
      define: { CLOISTER_DATAFLOW_PLAINTEXT: String(plaintext) },
    });
  } catch (error) {
    throw new Error(
      `cannot bundle ${jobFile}: ${(error as Error).message.replace(/^cannot bundle [^\n]*:\n/, '')}`,
    );
  }
  const config = jobEnclaveConfig(key);
  return { app, config, mrenclave: Buffer.from(measureJsApp(app, config)).toString('hex') };
}
