/** The dependence graph the slices run over: value nodes, flow edges with their site, functions, calls. */

export type NodeKind = 'var' | 'param' | 'return' | 'field' | 'function-value';

export interface GraphNode {
  id: string;
  kind: NodeKind;
  label: string;
  file: string;
  line: number;
  /**
   * The function whose frame holds the value (params, locals, returns; a nested function's value is
   * held by the function around it); none for module state and fields.
   */
  owner?: string;
  /** The value is a function: flows into and out of it are merged both ways (callbacks). */
  functionTyped: boolean;
  /**
   * `false` when its declared type cannot hold a function (a string, bytes, a class instance):
   * function values are not followed through it when calls through values are resolved.
   */
  mayHoldFunction?: boolean;
  /**
   * For a field of one abstract object (an allocation site's, or the object a function received as
   * `this` or a parameter): the field of its class it is one object's part of (`field:C.f`).
   */
  field?: string;
}

export interface FunctionInfo {
  id: string;
  name: string;
  kind: 'function' | 'method' | 'constructor' | 'arrow' | 'accessor' | 'module';
  file: string;
  line: number;
  endLine: number;
  lines: number;
  async: boolean;
  /** Why the function cannot leave the host (it uses Node I/O the enclave does not have). */
  pinnedHost?: string;
  declassify: boolean;
  className?: string;
  /** The function this one is nested in (a closure shares its frame in the slices). */
  parent?: string;
  /** Nodes read or written in its body, and those in its frame. */
  touches: Set<string>;
  /** Nodes it assigns to. */
  writes: Set<string>;
}

export interface FlowEdge {
  from: string;
  to: string;
  site: string;
  file: string;
  line: number;
  why: string;
  /**
   * A call edge (an argument of one call site to the callee's parameter) or a return edge (the
   * callee's return to that call site's result), matched by `site` in the context-sensitive slices.
   */
  kind?: 'call' | 'return';
}

/** One call of an application function at one place: its argument and result nodes (in the caller). */
export interface CallSiteNodes {
  site: string;
  caller: string;
  callee: string;
  /** Parameter of the callee → the argument node at this site. */
  args: Map<string, string>;
  /** The call's result; none for the callers outside the application (see `outs`). */
  result?: string;
  /**
   * Fields of the objects the callee received (`this.f`, `p.f`: its per-object field nodes) → the
   * node at this site through which they come back to the caller's objects.
   */
  outs?: Map<string, string>;
}

export interface CallSite {
  caller: string;
  callee: string;
  file: string;
  line: number;
  /** The call is awaited or its callee is async: it may cross asynchronously. */
  async: boolean;
  /** For calls out of the analysed code: the nodes each argument's value comes from. */
  args?: string[][];
  /** For those: where the call expression starts in its file (the generator rewrites it). */
  start?: number;
}

export interface PrecisionLoss {
  file: string;
  line: number;
  reason:
    'any' | 'dynamic-property' | 'callback' | 'eval' | 'dynamic-require' | 'abstract-call' | 'type-error';
  detail: string;
}

export class DependenceGraph {
  readonly nodes = new Map<string, GraphNode>();
  readonly functions = new Map<string, FunctionInfo>();
  readonly edges: FlowEdge[] = [];
  readonly calls: CallSite[] = [];
  readonly sites: CallSiteNodes[] = [];
  readonly precisionLoss: PrecisionLoss[] = [];
  /** For each field of a class (`field:C.f`): its per-object nodes (allocation sites, received objects). */
  readonly fieldVariants = new Map<string, Set<string>>();
  /** For each function: the per-object field nodes of the objects it received (inputs and outputs). */
  readonly objectFields = new Map<string, Set<string>>();
  private readonly out = new Map<string, FlowEdge[]>();
  private readonly into = new Map<string, FlowEdge[]>();
  /** For each source, the targets it already has an edge to. */
  private readonly linked = new Map<string, Set<string>>();

  addNode(node: GraphNode): GraphNode {
    const existing = this.nodes.get(node.id);
    if (existing !== undefined) return existing;
    this.nodes.set(node.id, node);
    return node;
  }

  /** `oneWay`: not merged back even when an end is a function value (a function's own parameters and return). */
  addEdge(edge: FlowEdge, oneWay = false): void {
    if (edge.from === edge.to) return;
    this.push(edge);
    const from = this.nodes.get(edge.from);
    const to = this.nodes.get(edge.to);
    if (!oneWay && (from?.functionTyped === true || to?.functionTyped === true)) {
      // Back along a call or return edge is neither: it is not matched by a call site.
      this.push({
        ...edge,
        from: edge.to,
        to: edge.from,
        why: `${edge.why} (function value, both ways)`,
        kind: undefined,
      });
    }
  }

  private push(edge: FlowEdge): void {
    let targets = this.linked.get(edge.from);
    if (targets === undefined) this.linked.set(edge.from, (targets = new Set()));
    if (targets.has(edge.to)) return;
    targets.add(edge.to);
    this.edges.push(edge);
    let list = this.out.get(edge.from);
    if (list === undefined) this.out.set(edge.from, (list = []));
    list.push(edge);
    let back = this.into.get(edge.to);
    if (back === undefined) this.into.set(edge.to, (back = []));
    back.push(edge);
  }

  outgoing(id: string): FlowEdge[] {
    return this.out.get(id) ?? [];
  }

  incoming(id: string): FlowEdge[] {
    return this.into.get(id) ?? [];
  }
}
