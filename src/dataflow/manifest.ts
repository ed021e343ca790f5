/**
 * The job manifest: every action's plan and its committed task records, bound together by a MAC
 * chain (HMAC-SHA-256: h0 over job and the job enclave's MRENCLAVE, h(i) over h(i-1) and action
 * i), sealed into `_MANIFEST.sealed` beside a saved output. With the job key the data owner checks that the result
 * used every input exactly once (completeness.ts) and that the part files are the ones written.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { checkAction } from './completeness.ts';
import { manifestDomain } from './domains.ts';
import { IntegrityError } from './errors.ts';
import { parseFrames } from './framing.ts';
import type { JobKeys } from './keyring.ts';
import type { ActionPlan } from './plan.ts';
import type { TaskRecord } from './records.ts';
import { openTextFile, sealTextFile } from './text-files.ts';

export const MANIFEST_FILE = '_MANIFEST.sealed';

export interface ManifestAction {
  plan: ActionPlan;
  records: TaskRecord[];
}

export interface Manifest {
  version: 1;
  job: string;
  /** MRENCLAVE (hex) of the job enclave the program and the executors ran. */
  bundle: string;
  actions: ManifestAction[];
  /** The action whose output this copy of the manifest sits beside. */
  saved: number;
  chain: string;
}

/** Records in plan order (stage, then partition): the chain does not depend on commit timing. */
export function orderRecords(plan: ActionPlan, records: TaskRecord[]): TaskRecord[] {
  const stageIndex = new Map(plan.stages.map((s, i) => [s.id, i]));
  return [...records].sort(
    (a, b) => (stageIndex.get(a.stage) ?? 0) - (stageIndex.get(b.stage) ?? 0) || a.part - b.part,
  );
}

export function chainTag(
  key: Uint8Array,
  job: string,
  bundle: string,
  actions: readonly ManifestAction[],
): string {
  let h = createHmac('sha256', key).update(`cloister-dataflow manifest v1|${job}|${bundle}`).digest();
  for (const action of actions) {
    const digest = createHash('sha256').update(JSON.stringify(action)).digest();
    h = createHmac('sha256', key).update(h).update(digest).digest();
  }
  return h.toString('hex');
}

export function sealManifest(keys: JobKeys, manifest: Manifest): Buffer {
  const json = Buffer.from(JSON.stringify(manifest), 'utf8');
  return sealTextFile(keys.get('manifest'), keys.jobId, manifestDomain(keys.jobId), [json]).bytes;
}

/** Opens a sealed manifest; the job id in its (clear) header selects the keys, which then must open it. */
export function openManifest(
  keysOf: (job: string) => JobKeys,
  bytes: Uint8Array,
): { keys: JobKeys; manifest: Manifest } {
  const { setId } = parseFrames(bytes, MANIFEST_FILE);
  const keys = keysOf(setId);
  const opened = openTextFile(keys.get('manifest'), bytes, MANIFEST_FILE, manifestDomain);
  return { keys, manifest: JSON.parse(Buffer.concat(opened.blocks).toString('utf8')) as Manifest };
}

/** Checks the chain and every action's completeness; returns the manifest's saved action. */
export function checkManifest(keys: JobKeys, manifest: Manifest): ManifestAction {
  if (manifest.version !== 1 || manifest.job !== keys.jobId)
    throw new IntegrityError('the manifest is of another job or version');
  const expected = Buffer.from(
    chainTag(keys.get('manifest'), manifest.job, manifest.bundle, manifest.actions),
    'hex',
  );
  const given = Buffer.from(String(manifest.chain), 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new IntegrityError(
      'the manifest MAC chain does not verify (an action or record was added, removed or changed)',
    );
  manifest.actions.forEach((action, i) => {
    if (action.plan.action !== i)
      throw new IntegrityError(`manifest action ${i} is numbered ${action.plan.action}`);
    checkAction(keys.get('manifest'), keys.jobId, action.plan, action.records);
  });
  const saved = manifest.actions[manifest.saved];
  if (!saved || saved.plan.kind !== 'save')
    throw new IntegrityError(`manifest action ${manifest.saved} saved no output`);
  return saved;
}
