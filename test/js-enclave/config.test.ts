// The JavaScript enclave's measured configuration and its ring calls: out-of-range settings get a
// clear error before anything is measured or started, and the ring calls it adds never reuse an id
// of the WASI enclave's call table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Calls, JsAppCalls } from '../../src/interface/calls.ts';
import { canonicalJson } from '../../src/interface/jcs.ts';
import { normalizeJsConfig } from '../../src/interface/js-enclave.ts';

describe('JavaScript enclave configuration', () => {
  it('fills defaults and keeps what was given, in canonical form', () => {
    assert.equal(
      canonicalJson(
        normalizeJsConfig({ settings: { b: 1, a: [true] }, kbs: { url: 'http://127.0.0.1:8080' } }),
      ),
      '{"kbs":{"url":"http://127.0.0.1:8080"},"maxMessageBytes":1048576,"memoryMiB":256,"settings":{"a":[true],"b":1},"version":1}',
    );
  });

  it('refuses out-of-range and malformed settings with a clear error', () => {
    const cases: [object, RegExp][] = [
      [{ maxMessageBytes: 100 }, /maxMessageBytes must be an integer from 1024/],
      [{ maxMessageBytes: 2 ** 40 }, /maxMessageBytes/],
      [{ maxMessageBytes: 4096.5 }, /maxMessageBytes/],
      [{ memoryMiB: 1 }, /memoryMiB must be an integer from 16/],
      [{ entries: { f: [2, 1] } }, /entry "f": argument counts must be \[least, most\]/],
      [{ entries: { f: [0] } }, /entry "f"/],
      [{ entries: { f: [0, 1000] } }, /entry "f"/],
      [{ kbs: { url: 'file:///etc/passwd' } }, /kbs.url must be an http\(s\) URL/],
      [{ kbs: { url: 'not a url' } }, /kbs.url/],
    ];
    for (const [config, match] of cases) assert.throws(() => normalizeJsConfig(config), match);
  });

  it('adds ring calls whose ids the WASI call table does not use', () => {
    const wasiIds = new Set(Object.values(Calls).map((c) => c.id));
    for (const spec of Object.values(JsAppCalls))
      assert.ok(!wasiIds.has(spec.id), `${spec.name} reuses id ${spec.id}`);
  });
});
