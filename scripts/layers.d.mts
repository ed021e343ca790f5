/** Types of scripts/layers.mjs (the layer table of src/). */
export declare const LAYERS: Record<
  | 'interface'
  | 'common'
  | 'enclave'
  | 'tee'
  | 'attestation'
  | 'kbs'
  | 'host'
  | 'image'
  | 'dataflow'
  | 'partition'
  | 'cli'
  | 'types',
  string[]
>;
export declare const EXCEPTIONS: { from: string; to: string; why: string }[];
export declare function layerViolation(file: string, target: string): string | undefined;
