/**
 * What executors need from the untrusted host: a store of named sealed blocks and reading sealed
 * input files. Everything that crosses it is ciphertext; names and sizes are routing metadata.
 */
export interface BlockStore {
  put(name: string, bytes: Uint8Array): Promise<void>;
  get(name: string): Promise<Uint8Array>;
  remove(names: readonly string[]): Promise<void>;
}

export interface ExecutorHost {
  readonly store: BlockStore;
  readFile(path: string): Promise<Uint8Array>;
}
