/**
 * The interface file (in the spirit of SGX's EDL), the one source of truth for the generated
 * stubs and checks: each crossing, its direction, who may call it, argument schemas from the TS
 * types, and how each value crosses (clear, opaque handle to an enclave object, sealed bytes).
 */

import { ts } from 'ts-morph';
import type { Analysis } from './analyze.ts';
import { entryPoints, type EntryReason } from './entries.ts';
import { checkSchema, schemaOf, type Schema } from './schema.ts';
import { inDeclassifiedCall } from './seal-exits.ts';

export const INTERFACE_FORMAT = 'cloister-partition-interface/1';

export type Crossing = 'clear' | 'handle' | 'sealed' | 'declassified';

export interface Value {
  name: string;
  schema: Schema;
  crossing: Crossing;
  /**
   * A return sensitive only through what the caller passes (arguments, the receiver's fields):
   * it leaves as `crossing` when one of them carries sensitive data (came sealed or as a handle, or
   * is an object of a class whose fields stay inside), else in clear.
   */
  fromArguments?: boolean;
}

export interface Entry {
  /** Unique name of the crossing, used by stubs and the dispatcher. */
  name: string;
  function: string;
  file: string;
  line: number;
  /** Why the untrusted side can call it: a host function does, its value escapes, or its module exports it. */
  why: EntryReason;
  mode: 'sync' | 'async';
  /** The host calls into the enclave. */
  callableBy: 'host';
  receiver?: string;
  /**
   * `enforced`: argument schemas are checked at entry (TypeScript). `advisory`: JSDoc types of a
   * JavaScript file, which JavaScript never enforced and its code checks itself (throwing its own
   * errors): only the crossing rules (sealed, handles, host objects) are checked.
   */
  types: 'enforced' | 'advisory';
  params: Value[];
  /**
   * The function reads `arguments` (`pss.create(md, mgf, saltLength)` besides `pss.create(options)`):
   * more arguments than parameters are taken, each through the same handle and seal checks.
   * Otherwise extra arguments are refused (TypeScript) or, for JavaScript, which never refused
   * them, dropped before the function runs.
   */
  variadic?: true;
  returns: Value;
  /** Call-order invariant: enclave state this entry reads that another entry must have written first. */
  requires: string[];
  establishes: string[];
}

export interface Exit {
  name: string;
  target: string;
  file: string;
  line: number;
  mode: 'sync' | 'async';
  /** The enclave calls out to the host. */
  callableBy: 'enclave';
  args: { crossing: Crossing }[];
}

export interface InterfaceFile {
  format: typeof INTERFACE_FORMAT;
  application: string;
  enclave: {
    functions: { id: string; name: string; file: string; line: number; reason: string }[];
    state: { id: string; label: string; file: string; line: number }[];
    residentClasses: string[];
    /** Pure host helpers whose bodies the enclave copy keeps: calls to them are no exits. */
    copied: { id: string; name: string; file: string; line: number; why: string }[];
  };
  entries: Entry[];
  exits: Exit[];
  declassified: { file: string; line: number; function: string; scope: string }[];
  sources: { file: string; line: number; what: string }[];
  precisionLoss: number;
}

function bytesOrHandle(schema: Schema): Crossing {
  return schema.type === 'object' || schema.type === 'handle' || schema.type === 'array'
    ? 'handle'
    : 'sealed';
}

/** Whether a function's own body (not a function nested in it) reads `arguments`. */
function readsArguments(fn: ts.Node): boolean {
  const visit = (node: ts.Node): boolean =>
    (ts.isIdentifier(node) && node.text === 'arguments') ||
    (!(ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isMethodDeclaration(node)) &&
      ts.forEachChild(node, visit) === true);
  return ts.forEachChild(fn, visit) === true;
}

export function buildInterface(
  analysis: Analysis,
  enclave: Map<string, string>,
  state: string[],
  copied: ReadonlyMap<string, string> = new Map(),
): InterfaceFile {
  const { graph, slices, builder, app } = analysis;
  const checker = app.checker;
  const residentClasses = new Set(
    state
      .map((id) => graph.nodes.get(id))
      .filter((n) => n?.kind === 'field')
      .map((n) => (n?.label ?? '').split('.')[0])
      .filter((c) => /^[A-Za-z_$][\w$]*$/.test(c)),
  );
  const declassifiedFns = new Set(
    analysis.annotations.declassified.filter((d) => d.scope !== 'call').map((d) => d.function),
  );
  const entries: Entry[] = [];
  const names = new Set<string>();
  const reachable = entryPoints(analysis, enclave);
  for (const id of [...enclave.keys()].sort()) {
    const fn = graph.functions.get(id);
    if (fn === undefined || fn.kind === 'arrow' || fn.name === '<anonymous>') continue;
    // Only what the untrusted side can call is an entry (the allow-list): the rest is refused.
    const why = reachable.get(id);
    if (why === undefined) continue;
    const decl = builder.declarationOf(id);
    if (decl === undefined) continue;
    const sig = checker.getSignatureFromDeclaration(decl);
    const params: Value[] = decl.parameters.map((p) => {
      let schema = schemaOf(checker, checker.getTypeAtLocation(p), residentClasses);
      // A parameter with a default or `?` may be left out (undefined): its declared type omits that.
      if (
        (p.initializer !== undefined || p.questionToken !== undefined) &&
        checkSchema(schema, undefined) !== undefined
      )
        schema = { type: 'union', anyOf: [{ type: 'undefined' }, schema] };
      return { name: p.name.getText(), schema, crossing: schema.type === 'handle' ? 'handle' : 'clear' };
    });
    const returnSchema =
      sig === undefined
        ? ({ type: 'any' } as Schema)
        : schemaOf(checker, checker.getReturnTypeOfSignature(sig), residentClasses);
    const sensitive = slices.forward.has(`${id}#return`);
    const returns: Value = {
      name: 'return',
      schema: returnSchema,
      crossing:
        fn.kind === 'constructor'
          ? 'handle'
          : !sensitive
            ? 'clear'
            : declassifiedFns.has(id)
              ? 'declassified'
              : bytesOrHandle(returnSchema),
    };
    if (returns.crossing !== 'clear' && fn.kind !== 'constructor' && !slices.forwardOwn.has(`${id}#return`))
      returns.fromArguments = true;
    let name = fn.name;
    if (names.has(name)) name = `${fn.name}@${fn.file}:${fn.line}`;
    names.add(name);
    const stateSet = new Set(state);
    // Call order is about module state: a field belongs to each object, which may be built anew.
    const reads = [...fn.touches].filter(
      (n) => stateSet.has(n) && !fn.writes.has(n) && !n.startsWith('field:'),
    );
    entries.push({
      ...(readsArguments(decl) ? { variadic: true as const } : {}),
      name,
      function: id,
      file: fn.file,
      line: fn.line,
      why,
      mode: fn.async || returnSchema.type === 'promise' ? 'async' : 'sync',
      callableBy: 'host',
      receiver: fn.className !== undefined && fn.kind !== 'constructor' ? fn.className : undefined,
      types: /\.[cm]?jsx?$/.test(fn.file) ? 'advisory' : 'enforced',
      params,
      returns,
      requires: reads,
      establishes: [...fn.writes].filter((n) => stateSet.has(n)),
    });
  }
  // Which state some entry establishes: a requirement nothing establishes is dropped (initial state).
  const established = new Set(entries.flatMap((e) => e.establishes));
  for (const e of entries)
    e.requires = e.requires.filter((r) => established.has(r) && !e.establishes.includes(r));

  const exits: Exit[] = [];
  for (const call of graph.calls) {
    if (!enclave.has(call.caller)) continue;
    const internal = graph.functions.has(call.callee);
    if (internal && (enclave.has(call.callee) || copied.has(call.callee))) continue;
    const target = internal
      ? (graph.functions.get(call.callee)?.name ?? call.callee)
      : call.callee.replace(/^external:/, '');
    const clearOut = inDeclassifiedCall(analysis, call.file, call.start);
    const args = (call.args ?? []).map((sources) => ({
      crossing: (sources.some((s) => slices.forward.has(s))
        ? clearOut
          ? 'declassified'
          : 'sealed'
        : 'clear') as Crossing,
    }));
    exits.push({
      name: `${target}@${call.file}:${call.line}`,
      target,
      file: call.file,
      line: call.line,
      mode: call.async || graph.functions.get(call.callee)?.async === true ? 'async' : 'sync',
      callableBy: 'enclave',
      args,
    });
  }
  const nodeInfo = (id: string): { id: string; label: string; file: string; line: number } => {
    const n = graph.nodes.get(id);
    return { id, label: n?.label ?? id, file: n?.file ?? '', line: n?.line ?? 0 };
  };
  return {
    format: INTERFACE_FORMAT,
    application: app.root.split('/').pop() ?? '',
    enclave: {
      functions: [...enclave].map(([id, reason]) => {
        const fn = graph.functions.get(id);
        return { id, name: fn?.name ?? id, file: fn?.file ?? '', line: fn?.line ?? 0, reason };
      }),
      state: state.map(nodeInfo),
      residentClasses: [...residentClasses].sort(),
      copied: [...copied].map(([id, why]) => {
        const fn = graph.functions.get(id);
        return { id, name: fn?.name ?? id, file: fn?.file ?? '', line: fn?.line ?? 0, why };
      }),
    },
    entries,
    exits,
    declassified: analysis.annotations.declassified,
    sources: analysis.annotations.sources.map((s) => ({ file: s.file, line: s.line, what: s.what })),
    precisionLoss: graph.precisionLoss.length,
  };
}

/** Reads an interface file back, refusing anything that is not one. */
export function parseInterface(text: string): InterfaceFile {
  const value = JSON.parse(text) as Partial<InterfaceFile>;
  if (value.format !== INTERFACE_FORMAT) throw new Error(`not a ${INTERFACE_FORMAT} file`);
  if (!Array.isArray(value.entries) || !Array.isArray(value.exits))
    throw new Error('interface file without entries or exits');
  return value as InterfaceFile;
}
