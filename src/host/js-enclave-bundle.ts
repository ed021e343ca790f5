/**
 * Bundles a JavaScript enclave application: one CommonJS file, built with esbuild for a neutral
 * platform, with every import resolved at bundle time. Imports of Node modules that do I/O (or of
 * any Node module besides node:crypto and node:buffer) are refused here, with the importing file,
 * so that what the enclave will run is settled, and measured, before it starts.
 */
import { builtinModules } from 'node:module';
import { basename, dirname, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';

export class BundleError extends Error {
  override name = 'BundleError';
}

/** Node modules an enclave application may import: pure computation, no I/O. */
const ALLOWED_NODE_MODULES = new Set(['crypto', 'buffer']);
const ENCLAVE_MODULE = 'cloister:enclave';
const builtins = new Set(builtinModules);

function nodeModuleName(path: string): string | undefined {
  const bare = path.startsWith('node:') ? path.slice(5) : path;
  if (path.startsWith('node:') || builtins.has(bare) || builtins.has(bare.split('/')[0])) return bare;
  return undefined;
}

const enclaveImports: Plugin = {
  name: 'cloister-enclave-imports',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.path === ENCLAVE_MODULE) return { path: ENCLAVE_MODULE, external: true };
      const node = nodeModuleName(args.path);
      if (node === undefined) return undefined;
      if (ALLOWED_NODE_MODULES.has(node)) return { path: `node:${node}`, external: true };
      return {
        errors: [
          {
            text: `${args.path} is imported by ${args.importer || 'the entry'}: Node I/O modules are not available inside a JavaScript enclave (only node:crypto and node:buffer)`,
          },
        ],
      };
    });
  },
};

export interface BundleJsAppOptions {
  /** The entry's source, when `entryFile` is a virtual file (imports resolve from its directory). */
  contents?: string;
  /** Module paths replaced at bundle time (esbuild `alias`). */
  alias?: Record<string, string>;
  /** Identifiers replaced by constant expressions (esbuild `define`). */
  define?: Record<string, string>;
}

/**
 * The application bundle of `entryFile` (its source text, to pass to `launchJsEnclave`). Paths in
 * the bundle are relative to the entry's directory, so the same tree bundles to the same bytes
 * wherever it is.
 */
export async function bundleJsApp(entryFile: string, options: BundleJsAppOptions = {}): Promise<string> {
  const entry = resolve(entryFile);
  try {
    const result = await build({
      ...(options.contents === undefined
        ? { entryPoints: [entry] }
        : {
            stdin: {
              contents: options.contents,
              resolveDir: dirname(entry),
              sourcefile: basename(entry),
              loader: 'ts' as const,
            },
          }),
      ...(options.alias && { alias: options.alias }),
      ...(options.define && { define: options.define }),
      absWorkingDir: dirname(entry),
      bundle: true,
      write: false,
      platform: 'neutral',
      format: 'cjs',
      target: 'es2022',
      mainFields: ['module', 'main'],
      legalComments: 'none',
      charset: 'utf8',
      logLevel: 'silent',
      plugins: [enclaveImports],
    });
    return result.outputFiles[0].text;
  } catch (error) {
    const errors = (
      error as { errors?: { text: string; location?: { file: string; line: number } | null }[] }
    ).errors;
    if (!errors) throw error;
    const lines = errors.map((e) =>
      e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text,
    );
    throw new BundleError(`cannot bundle ${entryFile} for the enclave:\n${lines.join('\n')}`);
  }
}
