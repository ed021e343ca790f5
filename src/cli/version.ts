/** `cloister --version`: what is installed and which backends this build can run. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../host/package-files.ts';

/** Backends a user can pick, with what each proves (docs/attestation.md). */
const BACKENDS = 'sim (no hardware isolation; evidence signed by a simulated platform)';

export function versionText(): string {
  const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return `cloister ${version}\nnode ${process.versions.node}\nbackends: ${BACKENDS}`;
}
