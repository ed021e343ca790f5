// Pure host helpers the enclave calls are copied into the enclave (no crossing), and only those:
// a helper that writes module state, keeps a module variable that can change, calls a library
// function that is not a pure built-in, or makes an object stays an exit. The decision is in the
// interface file and the figures, and the enclave copy keeps exactly the copied bodies.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { analyze } from '../../src/partition/analyze.ts';
import { writePartitioned } from '../../src/partition/generate.ts';
import { planPartition } from '../../src/partition/plan.ts';
import { names, writeApp } from './helpers.ts';

const HELPERS = `'use strict';
let calls = 0;
const LIMIT = 4;
/** @param {string} s @returns {boolean} */
function isShort(s) { return s.trim().length < LIMIT && Object.keys({ s }).length === 1; }
/** @param {{ kind: string }} o @returns {boolean} */
function isPlain({ kind }) { return kind === 'plain' && isShortKind(kind); }
/** @param {string} k @returns {boolean} */
function isShortKind(k) { let n = 0; for (const c of k) n += c.length; return n < 10; }
/** @param {string} s @returns {number} */
function counted(s) { calls++; return s.length; }
/** @param {string} s @returns {number} */
function readsCounter(s) { return s.length + calls; }
/** @param {string[]} list @param {string} s @returns {number} */
function pushes(list, s) { return list.push(s); }
/** @param {string} s @returns {Error} */
function makesError(s) { return new Error(s); }
class Policy {
  constructor() { this.strict = { password: true }; }
  /** @param {string} grant @returns {boolean} */
  required(grant) { return Object.keys(this.strict).length > 0 ? this.strict[grant] !== false : true; }
}
module.exports = { isShort, isPlain, counted, readsCounter, pushes, makesError, Policy };
`;

const VAULT = `'use strict';
const h = require('./helpers');
/** @sensitive */
let secret = 'pw';
// The helpers get clear arguments only (a helper given the secret would see it and move inside).
/** @param {InstanceType<typeof h.Policy>} policy @param {string} name @returns {number} */
function check(policy, name) {
  const list = [];
  const n = (h.isShort(name) ? 1 : 0) + (h.isPlain({ kind: name }) ? 1 : 0) + h.counted(name) +
    h.readsCounter(name) + h.pushes(list, name) + h.makesError(name).message.length +
    (policy.required(name) ? 1 : 0);
  /** @declassify the test reads a count */
  return n + secret.length;
}
module.exports = { check };
`;

describe('pure host helpers copied into the enclave', () => {
  it('copies the helpers that change nothing, with what they call; the others stay exits', () => {
    const dir = writeApp({
      'package.json': '{ "name": "pure", "main": "vault.js" }',
      'helpers.js': HELPERS,
      'vault.js': VAULT,
    });
    const analysis = analyze(dir);
    const plan = planPartition(analysis);
    assert.deepEqual(names(plan.enclave.keys()), ['check']);
    assert.deepEqual(names(plan.copied.keys()), ['Policy.required', 'isPlain', 'isShort', 'isShortKind']);
    const exits = plan.interface.exits.map((e) => e.target).sort();
    for (const stays of ['counted', 'readsCounter', 'pushes', 'makesError'])
      assert.ok(exits.includes(stays), `${stays} stays an exit: ${exits.join(', ')}`);
    for (const copied of ['isShort', 'isPlain', 'required'])
      assert.ok(!exits.some((e) => e.endsWith(copied)), `${copied} is no exit`);
    assert.deepEqual(
      plan.interface.enclave.copied.map((c) => [c.name, c.why.split(' (')[0]]),
      [
        ['isShort', 'called by check'],
        ['isPlain', 'called by check'],
        ['isShortKind', 'called by the copied isPlain'],
        ['Policy.required', 'called by check'],
      ],
    );
    assert.deepEqual(plan.metrics.copied, { functions: 4, lines: 4 });

    const out = join(writeApp({}), 'partitioned');
    writePartitioned(analysis, plan, out);
    const enclaveCopy = readFileSync(join(out, 'enclave', 'helpers.js'), 'utf8');
    const hostCopy = readFileSync(join(out, 'host', 'helpers.js'), 'utf8');
    assert.match(enclaveCopy, /function isShort\(s\) \{ return s\.trim\(\)\.length < LIMIT/);
    assert.match(enclaveCopy, /required\(grant\) \{ return Object\.keys\(this\.strict\)/);
    assert.match(enclaveCopy, /function counted\(s\) \{ return globalThis\.__cloister\.exit\("counted"/);
    assert.doesNotMatch(enclaveCopy, /calls\+\+/, 'a helper that writes module state is not copied');
    assert.ok(hostCopy.startsWith(HELPERS), 'the host keeps every helper as it was');
    assert.doesNotMatch(hostCopy, /RegisterHost\?\.\("is/, 'copied helpers are not registered as exits');
    assert.match(hostCopy, /RegisterHost\?\.\("counted", counted\)/);
  });
});
