// Security evidence: a canary secret made inside the enclave is nowhere in a V8 heap snapshot of the
// untrusted side. The fixture is a JavaScript vault (so the host process needs no TypeScript loader
// and its heap is small); the host side runs in a fresh process against the built
// dist/partition-host.js (`npm run build`), its enclave in the real JavaScript enclave (sim).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { analyze } from '../../src/partition/analyze.ts';
import { bundlePartitionedEnclave } from '../../src/partition/enclave-bundle.ts';
import { writePartitioned } from '../../src/partition/generate.ts';
import { planPartition } from '../../src/partition/plan.ts';
import { platformPath } from '../attest/helpers/sim.ts';
import { writeApp } from './helpers.ts';

const run = promisify(execFile);
const SECRET = 'pw-canary-7f3a';
const VAULT = `'use strict';
/** @sensitive */
let phrase = '';
/** @param {string} password @returns {string} */
function stretch(password) { return password + ':stretched'; }
/** @param {string} password @returns {number} */
function unlock(password) { phrase = stretch(password); return phrase.length; }
/** @returns {string} */
function exportPhrase() { return phrase; }
module.exports = { unlock, exportPhrase };
`;

describe('heap-snapshot canary (partitioned JavaScript vault in the JavaScript enclave)', () => {
  const platform = platformPath();
  let out = '';
  before(async () => {
    const dir = writeApp({ 'package.json': '{ "name": "vault", "main": "vault.js" }', 'vault.js': VAULT });
    out = join(writeApp({}), 'partitioned');
    const analysis = analyze(dir);
    writePartitioned(analysis, planPartition(analysis), out);
    await bundlePartitionedEnclave(out, 'vault');
  });
  after(() => rmSync(dirname(platform), { recursive: true, force: true }));

  it('the sensitive string made inside is nowhere in the host heap; a host-made control string is', async () => {
    // The host passes SECRET; only the enclave makes SECRET + ':stretched' and hands it out sealed.
    const { stdout } = await run(
      process.execPath,
      [join(import.meta.dirname, 'fixtures', 'heap-canary.mjs'), join(out, 'host'), platform, SECRET],
      { timeout: 300_000 },
    );
    const seen = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, boolean>;
    assert.equal(seen.sealed, true, 'the phrase left sealed');
    assert.equal(seen.control, true, 'the scan finds a string the host made the same way (it is not blind)');
    assert.equal(seen.canary, false, 'the canary is not in the host heap');
  });
});
