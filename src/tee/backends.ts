/**
 * The backends `--backend` accepts, by name. A new backend is a folder in src/tee and one line here.
 */
import type { TeeBackend } from './backend.ts';
import { simBackend } from './sim/backend.ts';
import { snpBackend } from './snp/backend.ts';
import { tdxBackend } from './tdx/backend.ts';

const REGISTERED: readonly TeeBackend[] = [simBackend, tdxBackend(), snpBackend()];

/** The registered names, `sim` first (the default). */
export const BACKEND_NAMES: readonly string[] = REGISTERED.map((b) => b.name);

/** The backend called `name`; throws with the registered names when there is none. */
export function backendByName(name: string): TeeBackend {
  const backend = REGISTERED.find((b) => b.name === name);
  if (backend === undefined)
    throw new Error(`unknown backend ${JSON.stringify(name)} (registered: ${BACKEND_NAMES.join(', ')})`);
  return backend;
}

/** One line per backend: its name and what its evidence proves (for --help and --version). */
export function backendSummary(): string {
  return REGISTERED.map((b) => `${b.name}: ${b.proves}`).join('\n');
}
