// Who may import whom among the top-level folders of src/: written down once here, enforced by
// ESLint (eslint.config.js) and by test/boundary/trust-boundary.test.ts. A folder missing from the
// table is an error, so a new one has to say where it sits.

/** For each top-level folder of src/, the other top-level folders its modules may import. */
export const LAYERS = {
  // The shared ABI of the host-call ring: imports nothing.
  interface: [],
  // Code both sides run: on-disk formats (LUKS2, dm-verity, volumes, ext4) and the block layer.
  common: ['interface'],
  // The trusted side. It reaches the host only through the ring described in src/interface.
  enclave: ['interface', 'common'],
  tee: ['interface', 'attestation'],
  attestation: ['interface'],
  kbs: ['interface', 'attestation'],
  // The untrusted side: never enclave code.
  host: ['interface', 'tee', 'attestation'],
  image: ['interface', 'common', 'host'],
  dataflow: ['interface', 'host'],
  partition: ['interface', 'host'],
  // The command line wires everything together (its `net` command reuses the enclave's parsers).
  cli: [
    'interface',
    'common',
    'enclave',
    'tee',
    'attestation',
    'kbs',
    'host',
    'image',
    'dataflow',
    'partition',
  ],
  // Ambient type declarations.
  types: [],
};

/** Single modules allowed across a line the table draws, each with its reason. */
export const EXCEPTIONS = [
  {
    from: 'src/enclave/main.ts',
    to: 'src/tee/measurement.ts',
    why: 'the entry checks the bundle it starts thread workers from against MRENCLAVE (a pure hash)',
  },
];

/**
 * Why `file` may not import `target` (both repository paths, e.g. `src/enclave/x.ts`), or undefined
 * when it may. Imports within one top-level folder are always allowed.
 */
export function layerViolation(file, target) {
  const from = topFolder(file);
  if (from === undefined) return undefined;
  if (!(from in LAYERS)) return `src/${from} is not in the layer table (scripts/layers.mjs)`;
  const to = topFolder(target);
  if (to === undefined || to === from) return undefined;
  if (LAYERS[from].includes(to)) return undefined;
  if (EXCEPTIONS.some((e) => e.from === file && e.to === target)) return undefined;
  return `src/${from} may not import src/${to} (${target}); see scripts/layers.mjs`;
}

function topFolder(path) {
  const parts = path.split('/');
  return parts[0] === 'src' && parts.length > 2 ? parts[1] : undefined;
}
