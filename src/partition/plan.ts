/**
 * The partition plan: enclave functions (the slices, plus what a synchronous cycle across the
 * boundary pulls in) and the state they own, the crossings, and the figures.
 */
import type { Analysis } from './analyze.ts';
import { PartitionError } from './errors.ts';
import { buildInterface, type InterfaceFile } from './interface-file.ts';
import { measure, type Metrics } from './metrics.ts';
import { pureHostHelpers } from './pure-helpers.ts';

export type Reason = 'sees' | 'affects' | 'cycle';

export interface PartitionPlan {
  enclave: Map<string, Reason>;
  /**
   * Pure host helpers enclave functions call (pure-helpers.ts): host code whose body the enclave
   * copy keeps too, so a call to one is no crossing. Function id → why it was copied.
   */
  copied: Map<string, string>;
  /** Module variables and fields that hold sensitive data or affect it: enclave-resident. */
  state: string[];
  interface: InterfaceFile;
  metrics: Metrics;
}

/** Strongly connected components of the call graph (Tarjan, iterative). */
function components(nodes: string[], succ: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: [string, number][] = [[root, 0]];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    on.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      const children = succ.get(v) ?? [];
      if (i < children.length) {
        frame[1]++;
        const w = children[i];
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          on.add(w);
          work.push([w, 0]);
        } else if (on.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent) ?? 0, low.get(v) ?? 0));
      }
      if (low.get(v) === index.get(v)) {
        const scc: string[] = [];
        let w: string | undefined;
        do {
          w = stack.pop();
          if (w === undefined) break;
          on.delete(w);
          scc.push(w);
        } while (w !== v);
        out.push(scc);
      }
    }
  }
  return out;
}

/**
 * A synchronous call cycle that crosses the boundary would re-enter the enclave while it waits for
 * the host: its host functions move in, unless one of them must stay on the host (Node I/O).
 */
function closeSyncCycles(analysis: Analysis, enclave: Map<string, Reason>): void {
  const { graph } = analysis;
  const succ = new Map<string, string[]>();
  for (const call of graph.calls) {
    if (call.async || !graph.functions.has(call.callee)) continue;
    const list = succ.get(call.caller) ?? [];
    list.push(call.callee);
    succ.set(call.caller, list);
  }
  for (const scc of components([...graph.functions.keys()], succ)) {
    if (scc.length < 2 || !scc.some((f) => enclave.has(f)) || scc.every((f) => enclave.has(f))) continue;
    const pinned = scc.find((f) => graph.functions.get(f)?.pinnedHost !== undefined);
    if (pinned !== undefined) {
      const fn = graph.functions.get(pinned);
      const inside = scc.find((f) => enclave.has(f)) ?? '';
      const call = graph.calls.find(
        (c) =>
          scc.includes(c.caller) && scc.includes(c.callee) && enclave.has(c.caller) !== enclave.has(c.callee),
      );
      throw new PartitionError(
        call?.file ?? fn?.file ?? '?',
        call?.line ?? fn?.line ?? 0,
        `a cycle the generator cannot split: synchronous calls between ${graph.functions.get(inside)?.name} (enclave) and ${fn?.name} (${fn?.file}:${fn?.line}), which must stay on the host: it ${fn?.pinnedHost}`,
      );
    }
    for (const f of scc) if (!enclave.has(f)) enclave.set(f, 'cycle');
  }
}

export function planPartition(analysis: Analysis, options: { integrity?: boolean } = {}): PartitionPlan {
  const { graph, slices } = analysis;
  const enclave = new Map<string, Reason>();
  for (const f of slices.sees) enclave.set(f, 'sees');
  if (options.integrity !== false)
    for (const f of slices.affects) if (!enclave.has(f)) enclave.set(f, 'affects');
  closeSyncCycles(analysis, enclave);
  for (const id of enclave.keys()) {
    const fn = graph.functions.get(id);
    if (fn?.pinnedHost !== undefined) {
      throw new PartitionError(
        fn.file,
        fn.line,
        `cannot be partitioned: ${fn.name} handles sensitive data but ${fn.pinnedHost}, which the enclave does not have`,
      );
    }
  }
  let state = [...graph.nodes.values()]
    .filter(
      (n) =>
        (n.kind === 'field' || (n.kind === 'var' && n.owner === undefined)) && !n.id.startsWith('field:lib:'),
    )
    .filter((n) => slices.forward.has(n.id) || (options.integrity !== false && slices.backward.has(n.id)))
    // A field of one object's (an allocation site's) is its class's field for the runtime.
    .map((n) => n.field ?? n.id);
  state = [...new Set(state)].sort();
  const copied = pureHostHelpers(analysis, enclave);
  const iface = buildInterface(analysis, enclave, state, copied);
  return { enclave, copied, state, interface: iface, metrics: measure(analysis, enclave, copied) };
}
