/**
 * The enclave side of a partitioned application as a JavaScript enclave bundle. The enclave copy
 * still holds the host's modules (their functions are guards), and they and their dependencies
 * import Node modules the enclave does not have (`http`, `url`, `path`…): a first esbuild pass
 * points those imports at stubs whose data exports (`http.STATUS_CODES`) are copied at generation
 * time and whose functions throw inside the enclave; `bundleJsApp` then bundles the result under
 * the enclave's own import rules and it is measured.
 */
import { writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { bundleJsApp, measureJsApp, type JsEnclaveConfig } from '../host/js-enclave.ts';
import { NODE_UNAVAILABLE } from './runtime-source.ts';

export const BUNDLE = 'enclave-bundle.js';
export const CONFIG = 'enclave-config.json';

/** Node modules the JavaScript enclave provides itself. */
const ENCLAVE_NODE_MODULES = new Set(['crypto', 'buffer']);
const builtins = new Set(builtinModules);

/** The measured configuration of a partitioned application's enclave. */
export function partitionEnclaveConfig(application: string): Partial<JsEnclaveConfig> {
  return {
    maxMessageBytes: 16 << 20,
    entries: { enterSync: [2, 2], enterAsync: [2, 2] },
    settings: { partitioned: application },
  };
}

/** The JSON data among a Node module's exports (functions and classes are left out). */
function nodeModuleData(name: string): Record<string, unknown> {
  const mod = createRequire(import.meta.url)(`node:${name}`) as Record<string, unknown>;
  const data: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(mod)) {
    if (typeof value === 'function' || value === undefined) continue;
    try {
      data[key] = JSON.parse(JSON.stringify(value)) as unknown;
    } catch {
      // not JSON (cycles, native handles): left out, so using it throws inside the enclave
    }
  }
  return data;
}

function nodeStubs(stubbed: Set<string>): Plugin {
  return {
    name: 'cloister-partition-node-stubs',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.startsWith('node:') ? args.path.slice(5) : args.path;
        if (args.path === 'cloister:enclave') return { path: args.path, external: true };
        if (!args.path.startsWith('node:') && !builtins.has(bare)) return undefined;
        if (ENCLAVE_NODE_MODULES.has(bare)) return { path: `node:${bare}`, external: true };
        stubbed.add(bare);
        return { path: bare, namespace: 'cloister-node-stub' };
      });
      b.onLoad({ filter: /.*/, namespace: 'cloister-node-stub' }, (args) => ({
        contents: NODE_UNAVAILABLE(args.path, builtins.has(args.path) ? nodeModuleData(args.path) : {}),
        loader: 'js',
      }));
    },
  };
}

export interface EnclaveBundle {
  mrenclave: Uint8Array;
  /** Node modules the enclave code imports but does not have: stubbed. */
  stubbedNodeModules: string[];
}

/**
 * Bundles the CommonJS program `entry` (resolved from `workingDir`) for a JavaScript enclave, the
 * Node modules it lacks stubbed; `flat` is where the first pass writes its output. Also used by
 * the bench to load a whole application into the enclave.
 */
export async function bundleForJsEnclave(
  entry: string,
  workingDir: string,
  flat: string,
): Promise<{ bundle: string; stubbedNodeModules: string[] }> {
  const stubbed = new Set<string>();
  await build({
    entryPoints: [entry],
    absWorkingDir: workingDir,
    bundle: true,
    outfile: flat,
    platform: 'neutral',
    format: 'cjs',
    target: 'es2022',
    mainFields: ['main', 'module'],
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
    plugins: [nodeStubs(stubbed)],
  });
  return { bundle: await bundleJsApp(flat), stubbedNodeModules: [...stubbed].sort() };
}

/**
 * Bundles `OUT/enclave` for the enclave and writes the bundle and its configuration beside the
 * host runtime (`OUT/host/cloister/`, the host launches it).
 */
export async function bundlePartitionedEnclave(out: string, application: string): Promise<EnclaveBundle> {
  const { bundle, stubbedNodeModules } = await bundleForJsEnclave(
    join(out, 'enclave', 'cloister', 'enclave-main.cjs'),
    join(out, 'enclave'),
    join(out, 'enclave', 'cloister', 'enclave-flat.cjs'),
  );
  const config = partitionEnclaveConfig(application);
  writeFileSync(join(out, 'host', 'cloister', BUNDLE), bundle);
  writeFileSync(join(out, 'host', 'cloister', CONFIG), `${JSON.stringify(config, null, 2)}\n`);
  return { mrenclave: measureJsApp(bundle, config), stubbedNodeModules };
}
