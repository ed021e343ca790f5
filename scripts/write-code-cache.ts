// Writes the enclave bundle's V8 code cache beside it (src/host/enclave-code-cache.ts says why it
// may be trusted to change nothing). Bundled and run by scripts/build.mjs, into $CLOISTER_DIST (default dist/).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { encodeCodeCache } from '../src/host/enclave-code-cache.ts';
import { ENCLAVE_SCRIPT_NAME } from '../src/tee/worker-enclave.ts';

const dist = process.env.CLOISTER_DIST ?? 'dist';
const bundleSource = readFileSync(join(dist, 'enclave.js'), 'utf8');
const payload = new Script(bundleSource, { filename: ENCLAVE_SCRIPT_NAME }).createCachedData();
writeFileSync(join(dist, 'enclave.js.v8cache'), encodeCodeCache(bundleSource, payload));
