/** `cloister measure --explain`: what goes into the measurement, and what stays host-only. */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../interface/run-config.ts';
import type { LaunchPlan } from './launch-plan.ts';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export function explainPlan(plan: LaunchPlan, mrenclave: string): string {
  const { config } = plan;
  const program = config.root
    ? `  program       ${config.root.program} inside the root image, pinned by its root hash`
    : `  program       ${plan.wasm.length} bytes, sha256 ${sha256(plan.wasm)}`;
  const hostDirs = config.mounts
    .filter((m) => m.type === 'hostdir')
    .map(
      (m, i) =>
        `  --dir         ${plan.hostDirs[i]} at ${m.guest} (untrusted storage: contents not measured)`,
    );
  const devices = plan.blockDevices.map(
    (d) =>
      `  block device  ${d.path} (${d.writable ? 'read-write' : 'read-only'}; checked inside the enclave)`,
  );
  const keys = [
    ...(plan.secrets.rootKey ? ['  root image key (provisioned at launch, not measured)'] : []),
    ...plan.secrets.volumeKeys.flatMap((k, i) =>
      k ? [`  volume key ${i + 1} (provisioned at launch, not measured)`] : [],
    ),
  ];
  const sig = [
    ...(plan.sig ? [`  SIGSTRUCT     gives MRSIGNER ${Buffer.from(plan.sig.mrSigner).toString('hex')}`] : []),
    ...(plan.kbsCa
      ? ['  --kbs-ca      CA certificates the host trusts for the broker (TLS ends on the host)']
      : []),
  ];
  return [
    `mrenclave ${mrenclave}`,
    '',
    'measured (a change to any of it changes MRENCLAVE):',
    '  enclave bundle dist/enclave.js, exactly as it runs',
    program,
    `  run config    ${canonicalJson(config)}`,
    '',
    'host-only (not measured):',
    ...(hostDirs.length + devices.length + keys.length + sig.length === 0
      ? ['  nothing']
      : [...hostDirs, ...devices, ...keys, ...sig]),
    '',
  ].join('\n');
}
