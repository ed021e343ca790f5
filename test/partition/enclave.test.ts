// The partitioned build in the real JavaScript enclave (sim backend): the enclave copy is bundled
// and launched as a JS enclave, the host copy's stubs call it through callSync/call, exits come
// back through host handlers, and sensitive results leave sealed under the enclave's own
// EGETKEY-derived key. Hostile requests straight into the enclave's entries are refused by the
// generated checks, and the enclave keeps serving.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { JsEnclave } from '../../src/host/js-enclave.ts';
import { analyze } from '../../src/partition/analyze.ts';
import { parseInterface } from '../../src/partition/interface-file.ts';
import { writePartitioned } from '../../src/partition/generate.ts';
import { bundlePartitionedEnclave } from '../../src/partition/enclave-bundle.ts';
import { startPartitionedEnclave } from '../../src/partition/host-start.ts';
import { planPartition } from '../../src/partition/plan.ts';
import { platformPath } from '../attest/helpers/sim.ts';
import { writeApp } from './helpers.ts';

const VAULT = `
/** @sensitive */
let masterKey: Uint8Array = new Uint8Array(0);
const events: string[] = [];
export function audit(what: string): void { events.push(what); }
export function auditLog(): string[] { return [...events]; }
/** @sensitive */
let phrase = '';
function stretch(password: string): string { return password + ':stretched'; }
export function unlock(password: string): number {
  phrase = stretch(password);
  masterKey = new TextEncoder().encode(phrase);
  audit('unlock');
  return masterKey.length;
}
export function exportPhrase(): string { return phrase; }
export function checksum(): number { let s = 0; for (const b of masterKey) s = (s + b) % 251; return s; }
/** @sensitive */
export function exportKey(): Uint8Array { return masterKey.slice(); }
/** @declassify the owner may see the first letter */
export function hint(): string { return String.fromCharCode(masterKey[0]); }
export async function slowHint(): Promise<string> { await Promise.resolve(); return hint(); }
export function greet(name: string): string { return 'hello ' + name; }
`;

type Sealed = { __cloisterSealed: Uint8Array };
const SECRET = 'pw-canary-7f3a';

/** A deterministic generator for the fuzzed requests (xorshift), so a failure can be replayed. */
function prng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('partitioned build in the JavaScript enclave', () => {
  const platform = platformPath();
  let out = '';
  let enclave: JsEnclave;
  let host: Record<string, (...a: unknown[]) => unknown>;
  let mrenclave: Uint8Array;

  before(async () => {
    const dir = writeApp({ 'vault.ts': VAULT });
    out = join(writeApp({}), 'partitioned');
    const analysis = analyze(dir);
    writePartitioned(analysis, planPartition(analysis), out);
    mrenclave = (await bundlePartitionedEnclave(out, 'vault')).mrenclave;
    enclave = await startPartitionedEnclave(join(out, 'host'), {
      platformPath: platform,
      syncTimeoutMs: 30_000,
    });
    host = (await import(pathToFileURL(join(out, 'host/vault.ts')).href)) as typeof host;
  });
  after(async () => {
    await enclave?.close();
    rmSync(dirname(platform), { recursive: true, force: true });
  });

  it('launches the bundle it measured, once per host copy', async () => {
    assert.deepEqual(enclave.mrenclave, mrenclave);
    const again = await startPartitionedEnclave(join(out, 'host'), { platformPath: platform });
    assert.equal(again, enclave);
  });

  it('refuses an entry called before the state it reads was set (call order), inside the enclave', () => {
    assert.throws(
      () => host.checksum(),
      (e: Error) =>
        e.name === 'EnclaveRefusal' && /checksum called before vault\.ts#masterKey/.test(e.message),
    );
  });

  it('runs enclave functions in the enclave; sensitive results leave sealed, exits reach the host', async () => {
    const length = host.unlock(SECRET) as Sealed;
    assert.ok(length.__cloisterSealed instanceof Uint8Array, 'a sealed blob, not the number');
    assert.deepEqual(host.auditLog(), ['unlock'], 'the enclave called the host function back (exit)');
    assert.equal(host.greet('x'), 'hello x', 'host code runs on the host');
    assert.equal(host.hint(), 'p', 'declassified: in clear');
    assert.equal(await host.slowHint(), 'p', 'async entries stay async');
    const exported = host.exportKey() as Sealed;
    assert.ok(exported.__cloisterSealed instanceof Uint8Array);
    assert.ok(!Buffer.from(exported.__cloisterSealed).toString('latin1').includes(SECRET));
    assert.ok(!Buffer.from(exported.__cloisterSealed).toString('latin1').includes('stretched'));
  });

  it('makes only what the host can call an entry: an internal enclave function is refused at the boundary', () => {
    const iface = parseInterface(readFileSync(join(out, 'interface.json'), 'utf8'));
    const inside = iface.enclave.functions.map((f) => f.name);
    assert.ok(inside.includes('stretch'), 'stretch computes the secret: it runs inside');
    const entries = new Map(iface.entries.map((e) => [e.name, e.why]));
    assert.ok(!entries.has('stretch'), 'but nothing outside calls it: no entry');
    assert.equal(entries.get('unlock'), 'exported');
    assert.throws(
      () => enclave.callSync('enterSync', ['stretch', { args: ['x'] }]),
      /stretch is not an entry/,
    );
  });

  it('unseals what it sealed (its own key) and refuses a blob with one bit flipped', () => {
    const sealedNumber = host.unlock(SECRET) as Sealed;
    // unlock takes a string: the enclave unsealed the blob to the number 19 and the schema refused it
    assert.throws(
      () => enclave.callSync('enterSync', ['unlock', { args: [sealedNumber] }]),
      /password: expected string, got number/,
    );
    const flipped = Uint8Array.from(sealedNumber.__cloisterSealed);
    flipped[flipped.length - 1] ^= 1;
    assert.throws(() => enclave.callSync('enterSync', ['unlock', { args: [{ __cloisterSealed: flipped }] }]));
    assert.throws(
      () => enclave.callSync('enterSync', ['unlock', { args: [{ __cloisterSealed: 'AAAA' }] }]),
      /a sealed value must be bytes/,
    );
  });

  it('refuses fuzzed calls (wrong names, types, counts, modes, handles, seals) without crashing', async () => {
    const rand = prng(0x5eed);
    const names = [
      'unlock',
      'checksum',
      'exportKey',
      'hint',
      'slowHint',
      'greet',
      'audit',
      'constructor',
      '',
      '__proto__',
    ];
    const values: unknown[] = [
      42,
      -1,
      2 ** 53,
      Number.NaN,
      null,
      undefined,
      true,
      'x'.repeat(1000),
      10n,
      new Uint8Array(3),
      [],
      [1, [2, [3]]],
      { __cloisterHandle: 7 },
      { __cloisterSealed: new Uint8Array(40) },
      { args: 'no' },
      { receiver: { handle: 'x' } },
      { __proto__: { polluted: 1 } },
    ];
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const name = pick(names);
      const request =
        rand() < 0.3
          ? pick(values)
          : { args: Array.from({ length: Math.floor(rand() * 4) }, () => pick(values)) };
      const entry = rand() < 0.5 ? 'enterSync' : 'enterAsync';
      try {
        if (entry === 'enterSync') enclave.callSync(entry, [name, request]);
        else await enclave.call(entry, [name, request]);
      } catch (error) {
        assert.ok(['threw', 'refused'].includes((error as { code?: string }).code ?? ''), String(error));
        refused++;
      }
    }
    // Only requests that happen to be well-formed calls of a sync entry with the right types pass.
    assert.ok(refused >= 250, `refused ${refused} of 300`);
    assert.throws(() => enclave.callSync('enterSync', ['unlock']), /refused|argument/);
    assert.throws(() => enclave.callSync('unlock', ['x']), /refused|entry/);
    await assert.rejects(enclave.call('enterAsync', ['hint', { args: [] }]), /hint is sync/);
    assert.equal(host.hint(), 'p', 'the enclave still answers after the fuzzing');
  });

  it('V8 coverage: on the host, no function that handles the secret ran its own body, only its stub', async () => {
    const session = new Session();
    session.connect();
    try {
      await session.post('Profiler.enable');
      await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false });
      host.unlock(SECRET);
      host.exportPhrase();
      host.checksum();
      host.hint();
      host.greet('x');
      const { result } = await session.post('Profiler.takePreciseCoverage');
      const iface = parseInterface(readFileSync(join(out, 'interface.json'), 'utf8'));
      const inside = new Set(iface.enclave.functions.map((f) => f.name));
      const hostFile = pathToFileURL(join(out, 'host', 'vault.ts')).href;
      const script = result.find((r) => r.url.startsWith(hostFile));
      assert.ok(script !== undefined, 'the host copy ran');
      // tsx compiles the file: read the function's text from the compiled source the isolate ran.
      const { scriptSource } = await session
        .post('Debugger.getScriptSource', { scriptId: script.scriptId })
        .catch(async () => {
          await session.post('Debugger.enable');
          return session.post('Debugger.getScriptSource', { scriptId: script.scriptId });
        });
      const ran = script.functions.filter((f) => f.ranges[0].count > 0 && f.functionName !== '');
      const seen = new Set<string>();
      for (const f of ran) {
        seen.add(f.functionName);
        const text = scriptSource.slice(f.ranges[0].startOffset, f.ranges[0].endOffset);
        // the compiler's export getters (`() => checksum`) carry the export's name: not the function
        if (!inside.has(f.functionName) || /^\(\)\s*=>\s*[\w$]+$/.test(text)) continue;
        assert.match(
          text,
          /__cloister\.enter\(/,
          `${f.functionName} ran on the host: only its stub may: ${text}`,
        );
        assert.doesNotMatch(text, /stretched|masterKey/, `${f.functionName}'s own body is not on the host`);
      }
      assert.ok(seen.has('unlock') && seen.has('greet'), 'coverage saw the stubs and the host code run');
      assert.ok(!seen.has('stretch'), 'the internal enclave function never ran on the host');
    } finally {
      await session.post('Profiler.stopPreciseCoverage').catch(() => undefined);
      session.disconnect();
    }
  });
});
