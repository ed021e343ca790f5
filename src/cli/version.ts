/** `cloister --version`: what is installed and which backends this build can run. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../host/package-files.ts';
import { backendSummary } from '../tee/backends.ts';

export function versionText(): string {
  const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  // Backends a user can pick, with what each proves (docs/attestation.md).
  const backends = backendSummary()
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
  return `cloister ${version}\nnode ${process.versions.node}\nbackends:\n${backends}`;
}
