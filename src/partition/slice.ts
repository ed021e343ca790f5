/**
 * Forward slice (who can see sensitive data: confidentiality) and backward slice (who can affect
 * it: integrity), to a fixpoint over the dependence graph; `@declassify` stops forward flow.
 *
 * Both are context-sensitive across calls (Reps–Horwitz–Sagiv): a call edge into a callee's
 * parameter is matched with the return edge back to the same call site, through summary edges
 * (argument → result at a site, when the callee's parameter reaches its return). So a utility
 * called once with a secret has a sensitive result at that call only, not at every call. Flow
 * through state shared across frames (fields, module variables, function values, closures) is not
 * matched: from there the value may reach any caller.
 */
import type { Annotations } from './annotations.ts';
import type { DependenceGraph, FlowEdge } from './graph.ts';

export interface Slices {
  /** Nodes sensitive values reach. */
  forward: Set<string>;
  /**
   * Those of them a sensitive value reaches other than only through the parameters (and received
   * objects) of the function whose frame holds them: a function's return outside this set is
   * sensitive only when what a caller passed it is.
   */
  forwardOwn: Set<string>;
  /** Nodes that can affect a sensitive value. */
  backward: Set<string>;
  /** How each forward node was first reached (for `explain`). */
  reachedBy: Map<string, FlowEdge | { source: string }>;
  /** Functions that see sensitive data, and those that can affect it. */
  sees: Set<string>;
  affects: Set<string>;
}

/** Summary edges per argument node: the result nodes of the same site it reaches through the callee. */
type Summaries = Map<string, Set<string>>;

/**
 * An edge within one frame (both ends owned by the same function): followed in any calling
 * context. Any other unmatched edge leaves the frame through shared state.
 */
function sameFrame(graph: DependenceGraph, edge: FlowEdge): boolean {
  const a = frameOf(graph, graph.nodes.get(edge.from)?.owner);
  return a !== undefined && a === frameOf(graph, graph.nodes.get(edge.to)?.owner);
}

/** The outermost function around a frame: closures share the frame of the function they are in. */
function frameOf(graph: DependenceGraph, owner: string | undefined): string | undefined {
  let fn = owner;
  for (let depth = 0; fn !== undefined && depth < 64; depth++) {
    const parent = graph.functions.get(fn)?.parent;
    if (parent === undefined) return fn;
    fn = parent;
  }
  return fn;
}

/**
 * For each call site and parameter of its callee: which of the callee's outputs (its return, and
 * the fields of the objects it received, `this.f`, `p.f`) the parameter reaches along edges of the
 * callee's frame and the summaries of its own calls (to a fixpoint). A `closed` function
 * (declassified) passes nothing back to its callers through its return.
 */
function computeSummaries(
  graph: DependenceGraph,
  stops: (edge: FlowEdge) => boolean,
  closed: Set<string>,
): Summaries {
  const summaries: Summaries = new Map();
  const sitesOf = new Map<string, typeof graph.sites>();
  const callersOf = new Map<string, Set<string>>();
  for (const s of graph.sites) {
    sitesOf.set(s.callee, [...(sitesOf.get(s.callee) ?? []), s]);
    let set = callersOf.get(s.callee);
    if (set === undefined) callersOf.set(s.callee, (set = new Set()));
    set.add(s.caller);
  }
  const paramsOf = new Map<string, string[]>();
  for (const n of graph.nodes.values())
    if (n.kind === 'param' && n.owner !== undefined)
      paramsOf.set(n.owner, [...(paramsOf.get(n.owner) ?? []), n.id]);
  const outputsOf = (fn: string): Set<string> => {
    const outs = new Set(graph.objectFields.get(fn) ?? []);
    if (!closed.has(fn)) outs.add(`${fn}#return`);
    return outs;
  };
  const reaches = new Map<string, Map<string, Set<string>>>();
  const work = [...sitesOf.keys()].filter((fn) => outputsOf(fn).size > 0);
  const queued = new Set(work);
  while (work.length > 0) {
    const fn = work.pop() as string;
    queued.delete(fn);
    const outputs = outputsOf(fn);
    let known = reaches.get(fn);
    if (known === undefined) reaches.set(fn, (known = new Map()));
    let grew = false;
    for (const param of paramsOf.get(fn) ?? []) {
      let found = known.get(param);
      if (found === undefined) known.set(param, (found = new Set()));
      if (found.size === outputs.size) continue;
      const before = found.size;
      if (outputs.has(param)) found.add(param);
      const seen = new Set([param]);
      const queue = [param];
      for (let i = 0; i < queue.length && found.size < outputs.size; i++) {
        const next = (to: string): void => {
          if (seen.has(to)) return;
          seen.add(to);
          queue.push(to);
        };
        for (const e of graph.outgoing(queue[i])) {
          if (stops(e)) continue;
          if (outputs.has(e.to)) found.add(e.to);
          if (e.kind === undefined && sameFrame(graph, e)) next(e.to);
        }
        for (const r of summaries.get(queue[i]) ?? []) next(r);
      }
      if (found.size > before) grew = true;
    }
    if (!grew) continue;
    const ret = `${fn}#return`;
    for (const s of sitesOf.get(fn) ?? []) {
      for (const [param, arg] of s.args) {
        for (const out of known.get(param) ?? []) {
          const at = out === ret ? s.result : s.outs?.get(out);
          if (at === undefined) continue;
          let set = summaries.get(arg);
          if (set === undefined) summaries.set(arg, (set = new Set()));
          set.add(at);
        }
      }
    }
    for (const caller of callersOf.get(fn) ?? []) {
      if (!queued.has(caller) && sitesOf.has(caller) && outputsOf(caller).size > 0) {
        queued.add(caller);
        work.push(caller);
      }
    }
  }
  return summaries;
}

/** Inverts summary edges for the backward walk. */
function invert(summaries: Summaries): Summaries {
  const out: Summaries = new Map();
  for (const [arg, results] of summaries)
    for (const r of results) {
      let set = out.get(r);
      if (set === undefined) out.set(r, (set = new Set()));
      set.add(arg);
    }
  return out;
}

/**
 * Reachability that matches calls with returns. State `up`: the walk may leave the current frame
 * to any caller (it started there, or came through shared state). State `down`: it entered the
 * frame through a call edge, and comes back only through the summary of that call. `enter` is the
 * edge kind that goes into a callee (call forward, return backward), `leave` the one that goes
 * back to a caller.
 */
function reach(
  graph: DependenceGraph,
  starts: string[],
  edgesOf: (id: string) => FlowEdge[],
  endOf: (e: FlowEdge) => string,
  enter: 'call' | 'return',
  summaries: Summaries,
  stops: (edge: FlowEdge) => boolean,
  onReach?: (id: string, how: FlowEdge) => void,
  summaryEdge?: (from: string, to: string) => FlowEdge,
  up = new Set<string>(),
): Set<string> {
  const down = new Set<string>();
  const queue: [string, boolean][] = [];
  const visit = (id: string, isUp: boolean, how?: FlowEdge): void => {
    if (up.has(id) || (!isUp && down.has(id))) return;
    if (how !== undefined && !up.has(id) && !down.has(id)) onReach?.(id, how);
    (isUp ? up : down).add(id);
    queue.push([id, isUp]);
  };
  for (const s of starts) visit(s, true);
  for (let i = 0; i < queue.length; i++) {
    const [id, isUp] = queue[i];
    for (const e of edgesOf(id)) {
      if (stops(e)) continue;
      const to = endOf(e);
      if (e.kind === enter) visit(to, false, e);
      else if (e.kind !== undefined) {
        if (isUp) visit(to, true, e);
      } else visit(to, isUp || !sameFrame(graph, e), e);
    }
    for (const to of summaries.get(id) ?? []) visit(to, isUp, summaryEdge?.(id, to));
  }
  return new Set([...up, ...down]);
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
  const never = (): boolean => false;
  const calleeAt = new Map<string, string>();
  for (const s of graph.sites) {
    if (s.result !== undefined) calleeAt.set(s.result, s.callee);
    for (const out of s.outs?.values() ?? []) calleeAt.set(out, s.callee);
  }
  const reachedBy = new Map<string, FlowEdge | { source: string }>();
  for (const s of annotations.sources)
    if (!reachedBy.has(s.node)) reachedBy.set(s.node, { source: `${s.file}:${s.line}` });
  // A field marked sensitive is sensitive in every object: its per-object nodes are sources too.
  for (const s of annotations.sources)
    for (const v of graph.fieldVariants.get(s.node) ?? [])
      if (!reachedBy.has(v)) reachedBy.set(v, { source: `${s.file}:${s.line}` });
  const sources = annotations.sources.flatMap((s) => [s.node, ...(graph.fieldVariants.get(s.node) ?? [])]);
  const forwardOwn = new Set<string>();
  const forward = reach(
    graph,
    sources,
    (id) => graph.outgoing(id),
    (e) => e.to,
    'call',
    computeSummaries(graph, stops, declassifiedFns),
    stops,
    (id, how) => {
      if (!reachedBy.has(id)) reachedBy.set(id, how);
    },
    (from, to) => {
      const node = graph.nodes.get(to);
      const callee = graph.functions.get(calleeAt.get(to) ?? '')?.name ?? 'the callee';
      return {
        from,
        to,
        site: node?.owner ?? '',
        file: node?.file ?? '',
        line: node?.line ?? 0,
        why: `through ${callee} (its parameter reaches its return)`,
      };
    },
    forwardOwn,
  );
  const backward = reach(
    graph,
    sources,
    (id) => graph.incoming(id),
    (e) => e.from,
    'return',
    invert(computeSummaries(graph, never, new Set())),
    never,
  );
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
  return { forward, forwardOwn, backward, reachedBy, sees, affects };
}
