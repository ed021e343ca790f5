/**
 * Checks a wasi-threads program (one built for `wasm32-wasip1-threads`: it imports a shared memory
 * and `wasi.thread-spawn`) and creates its shared memory. The memory is imported, so its limits
 * are read from the import section: the enclave, not the program, creates it, and never shares it
 * with the host.
 */
import { ModuleError, WASM_PAGE } from './wasm-module.ts';

export const THREAD_SPAWN = { module: 'wasi', name: 'thread-spawn' } as const;

export interface ImportedMemory {
  module: string;
  name: string;
  initial: number;
  maximum: number | undefined;
  shared: boolean;
}

const IMPORT_SECTION = 2;
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Reader {
  bytes: Uint8Array;
  pos: number;
  end: number;
}

function byte(r: Reader): number {
  if (r.pos >= r.end) throw new ModuleError('truncated WebAssembly module');
  return r.bytes[r.pos++];
}

function u32(r: Reader): number {
  let result = 0;
  for (let shift = 0; ; shift += 7) {
    if (shift > 28) throw new ModuleError('malformed LEB128 in WebAssembly module');
    const b = byte(r);
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
  }
  if (result > 0xffffffff) throw new ModuleError('malformed LEB128 in WebAssembly module');
  return result;
}

function name(r: Reader): string {
  const length = u32(r);
  if (r.pos + length > r.end) throw new ModuleError('truncated WebAssembly module');
  let text: string;
  try {
    text = utf8.decode(r.bytes.subarray(r.pos, r.pos + length));
  } catch {
    throw new ModuleError('malformed import name (not UTF-8) in WebAssembly module');
  }
  r.pos += length;
  return text;
}

interface Limits {
  initial: number;
  maximum: number | undefined;
  shared: boolean;
}

function limits(r: Reader): Limits {
  const flags = u32(r);
  if (flags & ~0x3) throw new ModuleError('64-bit memories are not supported');
  const initial = u32(r);
  const maximum = flags & 1 ? u32(r) : undefined;
  return { initial, maximum, shared: (flags & 2) !== 0 };
}

interface ModuleImports {
  functions: { module: string; name: string }[];
  memories: ImportedMemory[];
}

/** The memories a module imports, with their limits, from its import section. */
export function importedMemories(bytes: Uint8Array): ImportedMemory[] {
  return readImports(bytes).memories;
}

/**
 * A wasi-threads program: it imports `wasi.thread-spawn` or a shared memory. Read from the bytes,
 * before anything compiles them (see `compileThreaded` in main.ts).
 */
export function isThreaded(bytes: Uint8Array): boolean {
  const { functions, memories } = readImports(bytes);
  return (
    functions.some((f) => f.module === THREAD_SPAWN.module && f.name === THREAD_SPAWN.name) ||
    memories.some((m) => m.shared)
  );
}

function readImports(bytes: Uint8Array): ModuleImports {
  const r: Reader = { bytes, pos: 8, end: bytes.length };
  const found: ImportedMemory[] = [];
  const functions: { module: string; name: string }[] = [];
  while (r.pos < bytes.length) {
    const id = byte(r);
    const size = u32(r);
    const bodyEnd = r.pos + size;
    if (bodyEnd > bytes.length) throw new ModuleError('truncated WebAssembly module');
    if (id !== IMPORT_SECTION) {
      r.pos = bodyEnd;
      continue;
    }
    const section: Reader = { bytes, pos: r.pos, end: bodyEnd };
    const count = u32(section);
    for (let i = 0; i < count; i++) {
      const module = name(section);
      const field = name(section);
      const kind = byte(section);
      if (kind === 0) {
        u32(section);
        functions.push({ module, name: field });
      } else if (kind === 1) {
        byte(section);
        limits(section);
      } else if (kind === 2) found.push({ module, name: field, ...limits(section) });
      else if (kind === 3) {
        byte(section);
        byte(section);
      } else if (kind === 4) {
        byte(section);
        u32(section);
      } else throw new ModuleError(`malformed import section (import kind ${kind})`);
    }
    if (section.pos !== bodyEnd) throw new ModuleError('malformed import section');
    return { functions, memories: found };
  }
  return { functions, memories: found };
}

function mib(pages: number): number {
  return Math.ceil((pages * WASM_PAGE) / (1024 * 1024));
}

/**
 * Checks a threaded program's memory and thread entry, and creates its shared memory. A shared
 * memory cannot move when it grows, so its maximum is reserved in full at start: a maximum over
 * the enclave limit is refused (a non-shared memory's is lowered instead, see `capMemory`).
 */
export function prepareThreaded(
  module: WebAssembly.Module,
  bytes: Uint8Array,
  maxPages: number,
): { memory: WebAssembly.Memory; memoryImport: ImportedMemory } {
  const spawn = WebAssembly.Module.imports(module).find(
    (i) => i.module === THREAD_SPAWN.module && i.name === THREAD_SPAWN.name,
  );
  const memories = importedMemories(bytes);
  if (memories.length !== 1) {
    throw new ModuleError(
      memories.length === 0
        ? 'the program imports wasi.thread-spawn but not its memory: a threaded program must import a shared memory (build for wasm32-wasip1-threads)'
        : 'the program imports more than one memory',
    );
  }
  const memoryImport = memories[0];
  const where = `${memoryImport.module}.${memoryImport.name}`;
  if (!memoryImport.shared) {
    throw new ModuleError(
      `the program imports wasi.thread-spawn but its memory ${where} is not shared (build for wasm32-wasip1-threads)`,
    );
  }
  if (spawn && spawn.kind !== 'function') throw new ModuleError('wasi.thread-spawn is not a function import');
  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  if (spawn && exports.get('wasi_thread_start') !== 'function') {
    throw new ModuleError('the program imports wasi.thread-spawn but exports no wasi_thread_start function');
  }
  if (memoryImport.maximum === undefined) throw new ModuleError(`the shared memory ${where} has no maximum`);
  if (memoryImport.initial > maxPages) {
    throw new ModuleError(
      `the program needs ${mib(memoryImport.initial)} MiB of memory at start, over the enclave limit of ${mib(maxPages)} MiB`,
    );
  }
  if (memoryImport.maximum > maxPages) {
    throw new ModuleError(
      `the program's shared memory may grow to ${mib(memoryImport.maximum)} MiB, over the enclave limit of ${mib(maxPages)} MiB (raise --memory, or link with a smaller --max-memory)`,
    );
  }
  const memory = new WebAssembly.Memory({
    initial: memoryImport.initial,
    maximum: memoryImport.maximum,
    shared: true,
  });
  return { memory, memoryImport };
}
