// The WASI conformance tests (wasi-testsuite, C and AssemblyScript) through `cloister run`.
// expected-failures.json maps a test name to the reason it is known to fail; an unlisted failure
// fails this test, and so does a listed test that passes (the list must stay true).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runSuite } from './executor.ts';

const suites = ['c', 'assemblyscript'].map((s) =>
  fileURLToPath(new URL(`../../../shared/wasi-testsuite/${s}`, import.meta.url)),
);
const expectedFailures = JSON.parse(
  readFileSync(new URL('./expected-failures.json', import.meta.url), 'utf8'),
) as Record<string, string>;

describe('wasi-testsuite through cloister run', () => {
  for (const suite of suites) {
    it(`passes ${suite.split('/').pop()}`, async () => {
      const results = await runSuite(suite);
      assert.ok(results.length > 0, 'suite has tests');
      for (const result of results) {
        if (result.name in expectedFailures) {
          assert.equal(
            result.passed,
            false,
            `${result.name} passes now: remove it from expected-failures.json`,
          );
        } else {
          assert.ok(result.passed, `${result.name}: ${result.why}`);
        }
      }
    });
  }
});
