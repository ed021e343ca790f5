/**
 * Checks a program before it runs and caps its memory: the enclave's memory limit is enforced by
 * rewriting the maximum of the module's memory so that `memory.grow` fails (and malloc returns
 * NULL) at the limit, as an enclave's fixed EPC size would.
 */

export const WASM_PAGE = 65536;

export class ModuleError extends Error {
  override name = 'ModuleError';
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** Throws a one-line `ModuleError` unless `bytes` start like a core WebAssembly module. */
export function checkHeader(bytes: Uint8Array): void {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ModuleError('not a WebAssembly module (no \\0asm header)');
  }
  const version = bytes[4] | (bytes[5] << 8);
  if (version !== 1 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new ModuleError(
      version === 0x0d
        ? 'a WebAssembly component, not a core module'
        : `unsupported WebAssembly version ${version}`,
    );
  }
}

interface Reader {
  bytes: Uint8Array;
  pos: number;
}

function readU32(r: Reader): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (r.pos >= r.bytes.length) throw new ModuleError('truncated WebAssembly module');
    const byte = r.bytes[r.pos++];
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) break;
    shift += 7;
    if (shift > 28) throw new ModuleError('malformed LEB128 in WebAssembly module');
  }
  if (result > 0xffffffff) throw new ModuleError('malformed LEB128 in WebAssembly module');
  return result;
}

function writeU32(value: number, out: number[]): void {
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
}

const MEMORY_SECTION = 5;

/**
 * Returns the module with every memory's maximum lowered to `maxPages`. Throws when a memory's
 * initial size is already over the limit.
 */
export function capMemory(bytes: Uint8Array<ArrayBuffer>, maxPages: number): Uint8Array<ArrayBuffer> {
  checkHeader(bytes);
  const r: Reader = { bytes, pos: 8 };
  while (r.pos < bytes.length) {
    const sectionStart = r.pos;
    const id = bytes[r.pos++];
    const size = readU32(r);
    const bodyStart = r.pos;
    const bodyEnd = bodyStart + size;
    if (bodyEnd > bytes.length) throw new ModuleError('truncated WebAssembly module');
    if (id !== MEMORY_SECTION) {
      r.pos = bodyEnd;
      continue;
    }
    const body: number[] = [];
    const count = readU32(r);
    writeU32(count, body);
    for (let i = 0; i < count; i++) {
      const flags = readU32(r);
      if (flags & ~0x3) throw new ModuleError('64-bit memories are not supported');
      const min = readU32(r);
      const max = flags & 1 ? readU32(r) : Infinity;
      if (min > maxPages) {
        throw new ModuleError(
          `the program needs ${mib(min)} MiB of memory at start, over the enclave limit of ${mib(maxPages)} MiB`,
        );
      }
      body.push(flags | 1);
      writeU32(min, body);
      writeU32(Math.min(max, maxPages), body);
    }
    if (r.pos !== bodyEnd) throw new ModuleError('malformed memory section');
    const header: number[] = [MEMORY_SECTION];
    writeU32(body.length, header);
    const out = new Uint8Array(bytes.length - (bodyEnd - sectionStart) + header.length + body.length);
    out.set(bytes.subarray(0, sectionStart));
    out.set(header, sectionStart);
    out.set(body, sectionStart + header.length);
    out.set(bytes.subarray(bodyEnd), sectionStart + header.length + body.length);
    return out;
  }
  return bytes;
}

function mib(pages: number): number {
  return Math.ceil((pages * WASM_PAGE) / (1024 * 1024));
}

/** Throws unless every import is one the enclave provides. */
export function checkImports(
  module: WebAssembly.Module,
  provided: Record<string, Record<string, unknown>>,
): void {
  for (const imp of WebAssembly.Module.imports(module)) {
    const value = provided[imp.module]?.[imp.name];
    const kind = value instanceof WebAssembly.Memory ? 'memory' : 'function';
    if (value === undefined || imp.kind !== kind) {
      throw new ModuleError(
        `the program imports ${imp.module}.${imp.name} (${imp.kind}), which Cloister does not provide`,
      );
    }
  }
}

/**
 * Throws unless the module is a WASI command: it exports `_start`, and `memory` unless the memory
 * is imported (a threaded program's, which the enclave creates).
 */
export function checkCommand(module: WebAssembly.Module, memoryImported = false): void {
  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  if (exports.get('_start') !== 'function') {
    throw new ModuleError(
      exports.has('_initialize')
        ? 'the program is a WASI reactor (it exports _initialize, not _start); only commands can run'
        : 'the program has no _start export, so it is not a WASI command',
    );
  }
  if (!memoryImported && exports.get('memory') !== 'memory')
    throw new ModuleError('the program exports no memory');
}

/** The one-line description of a trap: `wasm trap: <what> in function <name>`. */
export function describeTrap(error: Error): string {
  const frame = (error.stack ?? '')
    .split('\n')
    .find((line) => line.includes('wasm://') || line.includes('wasm-function'));
  const named = frame?.match(/at (\S+) \(wasm:/);
  const indexed = frame?.match(/wasm-function\[(\d+)\]/);
  const where = named ? ` in function ${named[1]}` : indexed ? ` in function #${indexed[1]}` : '';
  return `wasm trap: ${error.message}${where}`;
}
