/** `explain`: the dataflow path from a sensitive source to a function, one step per line. */
import type { Analysis } from './analyze.ts';
import { PartitionError } from './errors.ts';

export interface PathStep {
  node: string;
  label: string;
  file: string;
  line: number;
  why: string;
}

/** Finds the function by id, `Class.method`, or name; refuses an unknown or ambiguous name. */
export function findFunction(analysis: Analysis, query: string): string {
  const fns = [...analysis.graph.functions.values()].filter((f) => f.kind !== 'module');
  const exact = fns.filter((f) => f.id === query || f.name === query);
  const matches = exact.length > 0 ? exact : fns.filter((f) => f.name.endsWith(`.${query}`));
  if (matches.length === 0) throw new PartitionError(analysis.app.root, 0, `no function named ${query}`);
  if (matches.length > 1) {
    const inSlice = matches.filter((f) => analysis.slices.sees.has(f.id));
    if (inSlice.length === 1) return inSlice[0].id;
    throw new PartitionError(
      analysis.app.root,
      0,
      `${query} is ambiguous: ${matches.map((f) => f.id).join(', ')}`,
    );
  }
  return matches[0].id;
}

/** The path by which sensitive data reaches `fnId`, from its source; empty when none does. */
export function explainPath(analysis: Analysis, fnId: string): PathStep[] {
  const { graph, slices } = analysis;
  const fn = graph.functions.get(fnId);
  if (fn === undefined) return [];
  const reached = [...fn.touches].filter((id) => slices.forward.has(id));
  if (reached.length === 0) return [];
  // The shortest: the touched node with the fewest steps back to a source.
  let best: PathStep[] | undefined;
  for (const start of reached) {
    const steps: PathStep[] = [];
    const seen = new Set<string>();
    for (let id: string | undefined = start; id !== undefined && !seen.has(id);) {
      seen.add(id);
      const node = graph.nodes.get(id);
      const how = slices.reachedBy.get(id);
      if (how === undefined) break;
      if ('source' in how) {
        const [file, line] = how.source.split(/:(?=\d+$)/);
        steps.push({ node: id, label: node?.label ?? id, file, line: Number(line), why: 'sensitive source' });
        break;
      }
      steps.push({ node: id, label: node?.label ?? id, file: how.file, line: how.line, why: how.why });
      id = how.from;
    }
    if (best === undefined || steps.length < best.length) best = steps;
  }
  return (best ?? []).reverse();
}

export function formatPath(analysis: Analysis, fnId: string, steps: PathStep[]): string {
  const fn = analysis.graph.functions.get(fnId);
  const head = `${fn?.name} (${fn?.file}:${fn?.line})`;
  if (steps.length === 0) {
    const affects = analysis.slices.affects.has(fnId);
    return affects
      ? `${head} sees no sensitive data; it is in the enclave because it writes values that flow into a sensitive one (integrity)\n`
      : `${head}: no sensitive data reaches it\n`;
  }
  const lines = steps.map((s, i) => `  ${i + 1}. ${s.file}:${s.line}  ${s.label}  — ${s.why}`);
  return `${head} sees sensitive data:\n${lines.join('\n')}\n  → read in ${fn?.name}\n`;
}
