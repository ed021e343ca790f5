/**
 * Cutting an action's lineage into stages at shuffles. A stage's tasks compute one RDD's partitions
 * through narrow dependencies; a map stage writes its partition's pairs to the reducers of one
 * shuffle. The plan holds only ids and counts: it is routing metadata, and it is what the manifest
 * binds the task records to.
 */
import { PartitionRDD, ShuffledRDD, TextFileRDD, UnionRDD, type Action, type RDD } from './rdd.ts';

export interface StagePlan {
  /** `a<action>:s<shuffle RDD id>` for a map stage, `a<action>:result` for the final one. */
  readonly id: string;
  /** The RDD whose partitions the stage's tasks compute. */
  readonly rdd: number;
  readonly partitions: number;
  /** A map stage: the shuffle it feeds and its number of reducers. */
  readonly shuffle?: { readonly rdd: number; readonly reducers: number };
  /** The map stages this stage reads, by id. */
  readonly parents: readonly string[];
  /** What each task reads: its narrow lineage ends in exactly one leaf (a union picks one parent). */
  readonly leaves: readonly Leaf[];
}

export type Leaf =
  | { readonly kind: 'shuffle'; readonly stage: string; readonly reduce: number }
  | { readonly kind: 'file'; readonly rdd: number; readonly part: number }
  | { readonly kind: 'values' };

export interface ActionPlan {
  readonly action: number;
  readonly kind: Action['kind'];
  readonly path?: string;
  /** Parents before children. */
  readonly stages: readonly StagePlan[];
  /** The files of every text RDD the stages read, by RDD id. */
  readonly files: Readonly<Record<number, readonly string[]>>;
}

export const mapStageId = (action: number, shuffleRdd: number): string => `a${action}:s${shuffleRdd}`;
export const resultStageId = (action: number): string => `a${action}:result`;

/** The narrow lineage of `rdd`: the shuffles it reads and the text RDDs it reaches. */
function narrow(rdd: RDD<unknown>): { shuffles: ShuffledRDD<unknown>[]; sources: TextFileRDD[] } {
  const shuffles: ShuffledRDD<unknown>[] = [];
  const sources: TextFileRDD[] = [];
  const walk = (node: RDD<unknown>): void => {
    if (node instanceof ShuffledRDD) shuffles.push(node);
    else if (node instanceof TextFileRDD) sources.push(node);
    else if (node instanceof PartitionRDD) walk(node.parent as RDD<unknown>);
    else if (node instanceof UnionRDD) for (const p of node.parents) walk(p as RDD<unknown>);
  };
  walk(rdd);
  return { shuffles, sources };
}

function leafOf(rdd: RDD<unknown>, part: number, action: number): Leaf {
  if (rdd instanceof PartitionRDD) return leafOf(rdd.parent as RDD<unknown>, part, action);
  if (rdd instanceof UnionRDD) {
    const at = rdd.locate(part);
    return leafOf(at.parent as RDD<unknown>, at.index, action);
  }
  if (rdd instanceof ShuffledRDD) return { kind: 'shuffle', stage: mapStageId(action, rdd.id), reduce: part };
  if (rdd instanceof TextFileRDD) return { kind: 'file', rdd: rdd.id, part };
  return { kind: 'values' };
}

export function planAction(index: number, rdd: RDD<unknown>, action: Action): ActionPlan {
  const stages: StagePlan[] = [];
  const files: Record<number, readonly string[]> = {};
  const planned = new Set<string>();
  const visit = (top: RDD<unknown>, id: string, shuffle?: ShuffledRDD<unknown>): void => {
    if (planned.has(id)) return;
    planned.add(id);
    const { shuffles, sources } = narrow(top);
    for (const s of shuffles) visit(s.parent as RDD<unknown>, mapStageId(index, s.id), s);
    for (const s of sources) files[s.id] = s.files;
    stages.push({
      id,
      rdd: top.id,
      partitions: top.numPartitions,
      ...(shuffle ? { shuffle: { rdd: shuffle.id, reducers: shuffle.numPartitions } } : {}),
      parents: [...new Set(shuffles.map((s) => mapStageId(index, s.id)))],
      leaves: Array.from({ length: top.numPartitions }, (_, p) => leafOf(top, p, index)),
    });
  };
  visit(rdd, resultStageId(index));
  return {
    action: index,
    kind: action.kind,
    ...(action.kind === 'save' ? { path: action.path } : {}),
    stages,
    files,
  };
}
