/**
 * Completeness of one action (after VC3): every stage has exactly one committed, authentic record per
 * partition; every task read exactly its leaf of the plan — from every mapper of its parent stage
 * exactly the set that mapper's record says it wrote for it, or exactly its one input file — and no
 * input file stands in for two partitions of a text RDD. The job program checks this before it uses
 * a result, the data owner again from the manifest.
 */
import { IntegrityError } from './errors.ts';
import type { ActionPlan } from './plan.ts';
import { checkRecordMac, type TaskRecord } from './records.ts';
import { inputName } from './text-files.ts';

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

  const fileAt = new Map<string, string>();
  for (const stage of plan.stages) {
    const parts = partsOf.get(stage.id)!;
    if (stage.leaves.length !== stage.partitions)
      throw new IntegrityError(`${stage.id}: the plan lacks leaves`);
    for (const record of parts) {
      if (stage.shuffle) checkShuffleOutputs(stage.id, stage.shuffle.reducers, record);
      const leaf = stage.leaves[record.part];
      const where = `${stage.id} partition ${record.part}`;
      if (leaf.kind === 'shuffle')
        checkShuffleRead(where, leaf.stage, leaf.reduce, partsOf.get(leaf.stage)!, record);
      else if (leaf.kind === 'file') {
        const input = record.inputs[0];
        if (
          record.inputs.length !== 1 ||
          input.type !== 'file' ||
          input.rdd !== leaf.rdd ||
          input.part !== leaf.part
        )
          throw new IntegrityError(`${where}: did not read exactly its input ${leaf.rdd}/${leaf.part}`);
        if (input.file !== inputName(plan.files[leaf.rdd]?.[leaf.part] ?? ''))
          throw new IntegrityError(`${where}: read ${input.file}, not the file the plan names`);
        const at = `${input.rdd}/${input.part}`;
        const file = `${input.dataset}/${input.file}/${input.digest}`;
        if ((fileAt.get(at) ?? file) !== file)
          throw new IntegrityError(`${where}: input ${at} was two different files`);
        fileAt.set(at, file);
      } else if (record.inputs.length !== 0) throw new IntegrityError(`${where}: read inputs it has none of`);
    }
  }
  // Each file once per text RDD: no file stands in for two partitions.
  const seen = new Map<string, string>();
  for (const [at, file] of fileAt) {
    const id = `${at.split('/')[0]}:${file.split('/').slice(0, 2).join('/')}`;
    const other = seen.get(id);
    if (other)
      throw new IntegrityError(`input ${file.split('/')[1]} was read as partitions ${other} and ${at}`);
    seen.set(id, at);
  }
}

function checkShuffleOutputs(stageId: string, reducers: number, record: TaskRecord): void {
  const outs = record.outputs.filter((o) => o.type === 'shuffle');
  const seen = new Set(outs.map((o) => (o.type === 'shuffle' ? o.reduce : -1)));
  if (outs.length !== reducers || seen.size !== reducers || [...seen].some((r) => r < 0 || r >= reducers))
    throw new IntegrityError(`${stageId} partition ${record.part}: not one output per reducer`);
}

/** A reducer read, from each committed mapper of `parent`, exactly the set that mapper wrote for it. */
function checkShuffleRead(
  where: string,
  parent: string,
  reduce: number,
  mappers: readonly TaskRecord[],
  record: TaskRecord,
): void {
  const reads = record.inputs;
  if (reads.length !== mappers.length)
    throw new IntegrityError(
      `${where} read ${reads.length} map outputs of ${parent}, which has ${mappers.length}`,
    );
  const maps = new Set<number>();
  for (const read of reads) {
    if (read.type !== 'shuffle' || read.stage !== parent || read.reduce !== reduce || maps.has(read.map))
      throw new IntegrityError(
        `${where}: read something other than one output ${reduce} of each mapper of ${parent}`,
      );
    maps.add(read.map);
    const mapper = mappers[read.map];
    const wrote = mapper?.outputs.find((o) => o.type === 'shuffle' && o.reduce === reduce);
    if (!mapper || mapper.attempt !== read.attempt || !wrote || wrote.digest !== read.digest)
      throw new IntegrityError(
        `${where} read output ${read.map} of ${parent} that its committed mapper did not write`,
      );
  }
}
