/** Locates the built bundles (dist/) from either the built CLI or the TypeScript sources. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the cloister package root');
    dir = parent;
  }
  return dir;
}

/** Path of a file in dist/; throws a clear error when the project has not been built. */
export function distFile(name: string): string {
  const path = join(packageRoot(), 'dist', name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\``);
  return path;
}

/** The enclave bundle's V8 code cache in dist/ (enclave-code-cache.ts). */
export const ENCLAVE_CODE_CACHE_FILE = 'enclave.js.v8cache';
