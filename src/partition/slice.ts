/**
 * Forward slice (who can see sensitive data: confidentiality) and backward slice (who can affect
 * it: integrity), to a fixpoint over the dependence graph; `@declassify` stops forward flow.
 */
import type { Annotations } from './annotations.ts';
import type { DependenceGraph, FlowEdge } from './graph.ts';

export interface Slices {
  /** Nodes sensitive values reach. */
  forward: Set<string>;
  /** Nodes that can affect a sensitive value. */
  backward: Set<string>;
  /** How each forward node was first reached (for `explain`). */
  reachedBy: Map<string, FlowEdge | { source: string }>;
  /** Functions that see sensitive data, and those that can affect it. */
  sees: Set<string>;
  affects: Set<string>;
}

export function computeSlices(graph: DependenceGraph, annotations: Annotations): Slices {
  const declassifiedFns = new Set(
    annotations.declassified.filter((d) => d.scope === 'function').map((d) => d.function),
  );
  const stops = (edge: FlowEdge): boolean => {
    if (edge.from.endsWith('#return') && declassifiedFns.has(edge.from.slice(0, -'#return'.length)))
      return true;
    return edge.why === 'return' && annotations.declassifiedReturns.has(`${edge.file}:${edge.line}`);
  };
  const forward = new Set<string>();
  const reachedBy = new Map<string, FlowEdge | { source: string }>();
  const queue: string[] = [];
  for (const s of annotations.sources) {
    if (forward.has(s.node)) continue;
    forward.add(s.node);
    reachedBy.set(s.node, { source: `${s.file}:${s.line}` });
    queue.push(s.node);
  }
  for (let i = 0; i < queue.length; i++) {
    for (const edge of graph.outgoing(queue[i])) {
      if (forward.has(edge.to) || stops(edge)) continue;
      forward.add(edge.to);
      reachedBy.set(edge.to, edge);
      queue.push(edge.to);
    }
  }
  const backward = new Set<string>(annotations.sources.map((s) => s.node));
  const back = [...backward];
  for (let i = 0; i < back.length; i++) {
    for (const edge of graph.incoming(back[i])) {
      if (backward.has(edge.from)) continue;
      backward.add(edge.from);
      back.push(edge.from);
    }
  }
  const sees = new Set<string>();
  const affects = new Set<string>();
  // A declassified return is sensitive only inside its own function: callers get it in clear.
  const clearOutside = new Set([...declassifiedFns].map((f) => `${f}#return`));
  for (const fn of graph.functions.values()) {
    if (fn.kind === 'module') continue;
    for (const id of fn.touches) {
      if (forward.has(id) && !(clearOutside.has(id) && id !== `${fn.id}#return`)) {
        sees.add(fn.id);
        break;
      }
    }
    for (const id of fn.writes) {
      if (backward.has(id)) {
        affects.add(fn.id);
        break;
      }
    }
  }
  return { forward, backward, reachedBy, sees, affects };
}
