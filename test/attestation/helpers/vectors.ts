/**
 * The shared attestation vectors (/work/shared/attestation-vectors/README.md): `$CLOISTER_VECTORS`
 * when set (a git worktree sits elsewhere), otherwise `shared/attestation-vectors` beside the checkout.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';

const fromEnv = process.env.CLOISTER_VECTORS;

export const VECTORS: URL = fromEnv
  ? pathToFileURL(fromEnv.endsWith('/') ? fromEnv : `${fromEnv}/`)
  : new URL('../../../../shared/attestation-vectors/', import.meta.url);

/** The same folder as a path. */
export const VECTORS_DIR: string = fileURLToPath(VECTORS);
