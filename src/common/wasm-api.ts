/**
 * The WebAssembly API surface the enclave's embedded wasm libraries (libext2fs, lwIP) use, typed
 * here so that their wrappers do not depend on the DOM typings.
 */
export interface WasmInstance {
  exports: Record<string, unknown>;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => WasmInstance;
}

export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
