import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireTool } from './helpers/tools.ts';

test('requireTool fails in CI and skips elsewhere when a tool is missing', (t) => {
  const saved = process.env.CI;
  try {
    process.env.CI = 'true';
    assert.throws(() => requireTool(t, 'no-such-tool-cloister'), /required tool 'no-such-tool-cloister'/);
    delete process.env.CI;
    let skipped = '';
    const fake = { skip: (why: string) => (skipped = why) } as unknown as typeof t;
    assert.equal(requireTool(fake, 'no-such-tool-cloister'), false);
    assert.match(skipped, /not installed/);
    assert.equal(requireTool(t, 'sh'), true);
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
});
