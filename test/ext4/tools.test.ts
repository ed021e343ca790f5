import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireTool } from './helpers/tools.ts';

test('requireTool skips locally and fails in CI when a tool is missing', () => {
  const saved = process.env.CI;
  try {
    delete process.env.CI;
    assert.match(requireTool('sh', 'no-such-tool-cloister') ?? '', /no-such-tool-cloister not installed/);
    assert.equal(requireTool('sh'), undefined);
    process.env.CI = 'true';
    assert.throws(() => requireTool('no-such-tool-cloister'), /interop test needs/);
    assert.equal(requireTool('sh'), undefined);
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
});
