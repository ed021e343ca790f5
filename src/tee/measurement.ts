/**
 * The enclave identity of a Cloister run: MRENCLAVE over an enclave image laid out as SGX would
 * load it. Page 0 is a layout header (magic, version, offset and length of each part); then the
 * enclave bundle (the trusted runtime), the program's `.wasm` and the canonical JSON of the run
 * configuration, each starting on a page boundary and zero-padded. The header makes the layout
 * unambiguous: no two different inputs lay out to the same pages. A JavaScript enclave's image
 * (`measureJsEnclave`) has the same layout under another magic, so the kinds never measure alike.
 */
import { MrEnclaveBuilder, PAGE_SIZE, SecinfoFlags } from './mrenclave.ts';

export interface EnclaveImage {
  /** The enclave bundle's bytes (dist/enclave.js), exactly as the enclave will run them. */
  bundle: Uint8Array;
  wasm: Uint8Array;
  /** Canonical JSON of the `RunConfig`. */
  config: Uint8Array;
}

const MAGIC = 'CLOISTER-ENCLAVE';
const LAYOUT_VERSION = 1;
const SSA_FRAME_SIZE = 1;

function pagesFor(length: number): number {
  return Math.max(1, Math.ceil(length / PAGE_SIZE));
}

/** Computes the 32-byte MRENCLAVE of an enclave image. */
export function measureEnclave(image: EnclaveImage): Uint8Array {
  return measureLayout(MAGIC, [
    { bytes: image.bundle, flags: SecinfoFlags.PT_REG | SecinfoFlags.R | SecinfoFlags.X },
    { bytes: image.wasm, flags: SecinfoFlags.PT_REG | SecinfoFlags.R | SecinfoFlags.X },
    { bytes: image.config, flags: SecinfoFlags.PT_REG | SecinfoFlags.R },
  ]);
}

/**
 * The image of a JavaScript enclave (docs/js-enclave.md): the JS-enclave runtime, the
 * application bundle and the canonical JSON of its configuration. Its header's magic differs from
 * a WASI enclave's, so the two kinds never measure alike, whatever their parts.
 */
export interface JsEnclaveImage {
  /** The runtime bundle's bytes (dist/js-enclave.js), exactly as the enclave will run them. */
  runtime: Uint8Array;
  /** The application bundle's UTF-8 bytes. */
  app: Uint8Array;
  /** Canonical JSON of the `JsEnclaveConfig`. */
  config: Uint8Array;
}

const JS_MAGIC = 'CLOISTER-JS-ENCL';

/** Computes the 32-byte MRENCLAVE of a JavaScript enclave image. */
export function measureJsEnclave(image: JsEnclaveImage): Uint8Array {
  return measureLayout(JS_MAGIC, [
    { bytes: image.runtime, flags: SecinfoFlags.PT_REG | SecinfoFlags.R | SecinfoFlags.X },
    { bytes: image.app, flags: SecinfoFlags.PT_REG | SecinfoFlags.R | SecinfoFlags.X },
    { bytes: image.config, flags: SecinfoFlags.PT_REG | SecinfoFlags.R },
  ]);
}

interface Part {
  bytes: Uint8Array;
  flags: bigint;
}

function measureLayout(magic: string, parts: Part[]): Uint8Array {
  const header = new Uint8Array(PAGE_SIZE);
  const view = new DataView(header.buffer);
  header.set(new TextEncoder().encode(magic));
  view.setUint32(16, LAYOUT_VERSION, true);
  let nextPage = 1;
  const placed = parts.map((part, i) => {
    const offset = nextPage * PAGE_SIZE;
    view.setBigUint64(24 + i * 16, BigInt(offset), true);
    view.setBigUint64(32 + i * 16, BigInt(part.bytes.length), true);
    nextPage += pagesFor(part.bytes.length);
    return { ...part, offset };
  });
  let enclaveSize = PAGE_SIZE;
  while (enclaveSize < nextPage * PAGE_SIZE) enclaveSize *= 2;

  const builder = new MrEnclaveBuilder(BigInt(enclaveSize), SSA_FRAME_SIZE);
  builder.addPage(0n, header, SecinfoFlags.PT_REG | SecinfoFlags.R);
  const page = new Uint8Array(PAGE_SIZE);
  for (const part of placed) {
    for (let p = 0; p < pagesFor(part.bytes.length); p++) {
      page.fill(0);
      page.set(part.bytes.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE));
      builder.addPage(BigInt(part.offset + p * PAGE_SIZE), page, part.flags);
    }
  }
  return builder.digest();
}
