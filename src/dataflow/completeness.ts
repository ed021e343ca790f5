/**
 * Completeness of one action (after VC3): every stage has exactly one committed, authentic record per
 * partition; every reducer read, from every mapper of each parent stage, exactly the set that mapper's
 * record says it wrote for it; and every text partition was read exactly as often as the lineage
 * reads it, each input file of a text RDD once. The job program checks this before it uses a result,
 * the data owner again from the manifest.
 */
import { IntegrityError } from './errors.ts';
import type { ActionPlan } from './plan.ts';
import { checkRecordMac, type TaskRecord } from './records.ts';

export function checkAction(
  manifestKey: Uint8Array,
  job: string,
  plan: ActionPlan,
  records: readonly TaskRecord[],
): void {
  const byStage = new Map<string, TaskRecord[]>(plan.stages.map((s) => [s.id, []]));
  for (const record of records) {
    checkRecordMac(manifestKey, record);
    if (record.job !== job) throw new IntegrityError(`a task record of job ${record.job} in job ${job}`);
    const list = byStage.get(record.stage);
    if (!list)
      throw new IntegrityError(
        `a task record of stage ${record.stage}, which action ${plan.action} does not have`,
      );
    list.push(record);
  }

  const partsOf = new Map<string, TaskRecord[]>();
  for (const stage of plan.stages) {
    const list = byStage.get(stage.id)!;
    const parts: TaskRecord[] = [];
    for (const record of list) {
      if (!Number.isInteger(record.part) || record.part < 0 || record.part >= stage.partitions)
        throw new IntegrityError(
          `${stage.id}: a record of partition ${record.part} (the stage has ${stage.partitions})`,
        );
      if (parts[record.part])
        throw new IntegrityError(`${stage.id}: two records of partition ${record.part}`);
      parts[record.part] = record;
    }
    for (let p = 0; p < stage.partitions; p++)
      if (!parts[p])
        throw new IntegrityError(`${stage.id}: no record of partition ${p} (an input was left out)`);
    partsOf.set(stage.id, parts);
  }

  for (const stage of plan.stages) {
    const parts = partsOf.get(stage.id)!;
    if (stage.shuffle)
      for (const record of parts) {
        const outs = record.outputs.filter((o) => o.type === 'shuffle');
        const seen = new Set(outs.map((o) => (o.type === 'shuffle' ? o.reduce : -1)));
        if (outs.length !== stage.shuffle.reducers || seen.size !== outs.length)
          throw new IntegrityError(`${stage.id} partition ${record.part}: not one output per reducer`);
      }
    for (const parentId of stage.parents) {
      const mappers = partsOf.get(parentId)!;
      for (const record of parts) {
        const reads = record.inputs.filter((i) => i.type === 'shuffle' && i.stage === parentId);
        if (reads.length !== mappers.length)
          throw new IntegrityError(
            `${stage.id} partition ${record.part} read ${reads.length} map outputs of ${parentId}, which has ${mappers.length}`,
          );
        for (const read of reads) {
          if (read.type !== 'shuffle') continue;
          const mapper = mappers[read.map];
          const wrote = mapper?.outputs.find((o) => o.type === 'shuffle' && o.reduce === record.part);
          if (
            !mapper ||
            mapper.attempt !== read.attempt ||
            !wrote ||
            wrote.type !== 'shuffle' ||
            wrote.digest !== read.digest
          )
            throw new IntegrityError(
              `${stage.id} partition ${record.part} read output ${read.map} of ${parentId} that its committed mapper did not write`,
            );
        }
        if (new Set(reads.map((r) => (r.type === 'shuffle' ? r.map : -1))).size !== reads.length)
          throw new IntegrityError(
            `${stage.id} partition ${record.part} read a map output of ${parentId} twice`,
          );
      }
    }
    checkSources(plan, stage.id, stage.sources, parts);
  }
}

function checkSources(
  plan: ActionPlan,
  stageId: string,
  sources: readonly number[],
  parts: readonly TaskRecord[],
): void {
  const reads = new Map<string, number>();
  const fileOf = new Map<string, string>();
  for (const record of parts)
    for (const input of record.inputs) {
      if (input.type !== 'file') continue;
      const at = `${input.rdd}/${input.part}`;
      reads.set(at, (reads.get(at) ?? 0) + 1);
      const file = `${input.dataset}/${input.file}/${input.digest}`;
      if (fileOf.has(at) && fileOf.get(at) !== file)
        throw new IntegrityError(
          `${stageId}: text RDD ${input.rdd} partition ${input.part} read two different files`,
        );
      fileOf.set(at, file);
    }
  const expected = new Map<string, number>();
  for (const rdd of sources) {
    const files = plan.files[rdd] ?? [];
    for (let p = 0; p < files.length; p++)
      expected.set(`${rdd}/${p}`, (expected.get(`${rdd}/${p}`) ?? 0) + 1);
  }
  for (const [at, n] of expected)
    if (reads.get(at) !== n)
      throw new IntegrityError(`${stageId}: input ${at} read ${reads.get(at) ?? 0} times, not ${n}`);
  for (const at of reads.keys())
    if (!expected.has(at)) throw new IntegrityError(`${stageId}: read input ${at} it should not`);
  for (const rdd of new Set(sources)) {
    const names = [...fileOf.entries()]
      .filter(([at]) => at.startsWith(`${rdd}/`))
      .map(([, f]) => f.split('/').slice(0, 2).join('/'));
    if (new Set(names).size !== names.length)
      throw new IntegrityError(`${stageId}: text RDD ${rdd} read one file twice`);
  }
}
