/**
 * Builds the dependence graph from the type-checked program: def-use of variables, parameters and
 * returns, abstract fields (one node per declaring type and field name), and call edges resolved by
 * the checker. Where types do not say enough (`any`, `o[k]`, calls through function values,
 * `eval`/`Function`/`require(expr)`), the flow is merged conservatively and the place is recorded.
 */
import { ts } from 'ts-morph';
import { es5ClassOfThis } from './es5-classes.ts';
import type { LoadedApp } from './project.ts';
import { DependenceGraph, type CallSiteNodes, type FunctionInfo, type PrecisionLoss } from './graph.ts';
import { reachingSeeds, type SeedReach } from './reach.ts';

/** Node modules the enclave does not have: a function using them stays on the host. */
const HOST_IO =
  /^(node:)?(fs|fs\/promises|net|dgram|child_process|http|https|http2|tls|dns|cluster|readline|inspector|worker_threads)$/;

/**
 * Methods of the built-in arrays, typed arrays and buffers (`COPYING_BUILTIN_OWNER`) that return a
 * new array, view or buffer and do not change their receiver (`subarray` shares the receiver's
 * memory but writes nothing into it).
 */
const COPYING_BUILTIN_METHODS = new Set([
  'slice',
  'subarray',
  'concat',
  'map',
  'filter',
  'flat',
  'flatMap',
  'toReversed',
  'toSorted',
  'toSpliced',
  'with',
]);
const COPYING_BUILTIN_OWNER =
  /^(ReadonlyArray|Array|ArrayBuffer|SharedArrayBuffer|(Int8|Uint8|Uint8Clamped|Int16|Uint16|Int32|Uint32|Float32|Float64|BigInt64|BigUint64)Array)$/;

type FunctionLike =
  | ts.FunctionDeclaration
  | ts.MethodDeclaration
  | ts.ConstructorDeclaration
  | ts.ArrowFunction
  | ts.FunctionExpression
  | ts.GetAccessorDeclaration
  | ts.SetAccessorDeclaration;

export function isFunctionLike(node: ts.Node): node is FunctionLike {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

interface Context {
  fn: string;
  file: ts.SourceFile;
}

/**
 * Whose fields an expression's object is: the object a function received (`this` of a method, or
 * an unassigned parameter: fields per call, matched at each call site), one allocation site whose
 * object stays local (`const s = new C()` used only through its fields and calls that keep it),
 * or neither (the class's field, shared by every object of it).
 */
type ObjectRoot = { kind: 'received'; fn: string; root: string } | { kind: 'site'; site: ts.NewExpression };

/** A call of an application function, kept to join the callee's received objects' fields to the caller's. */
interface ObjectCall {
  nodes: CallSiteNodes;
  target: FunctionLike;
  /** The expression whose object is the callee's `this` (receiver, `new` expression, `super`). */
  receiver?: ts.Expression;
  args: readonly ts.Expression[];
  ctx: Context;
  at: ts.Node;
  nested: boolean;
  linked: Set<string>;
}

export class GraphBuilder {
  readonly graph = new DependenceGraph();
  readonly app: LoadedApp;
  private readonly checker: ts.TypeChecker;
  private readonly appFiles: Set<ts.SourceFile>;
  private readonly fnIds = new Map<ts.Node, string>();
  private readonly declIds = new Map<ts.Node, string>();
  /** Methods overriding a method (by declaration), for dispatch of calls resolved to the base. */
  private readonly overrides = new Map<ts.Node, ts.Node[]>();
  private readonly escaped = new Set<string>();
  private readonly slotCalls: {
    slot: string[];
    /** What the callee is read from (`x` in `x.charCodeAt(0)`). */
    receiver: string[];
    args: Set<string>[];
    ctx: Context;
    node: ts.Node;
    result: string;
  }[] = [];
  private readonly params = new Map<string, string[]>();
  private readonly relNames = new Map<ts.SourceFile, string>();
  private readonly objectCalls: ObjectCall[] = [];
  /** Per-object field node → what it stands for (its function, root, field name and class field). */
  private readonly received = new Map<string, { fn: string; root: string; name: string; field: string }>();
  private readonly tracked = new Map<ts.NewExpression, boolean>();
  private readonly thisEscape = new Map<ts.Node, boolean>();
  private readonly paramEscape = new Map<ts.Node, boolean>();

  constructor(app: LoadedApp) {
    this.app = app;
    this.checker = app.checker;
    this.appFiles = new Set(app.files);
  }

  build(): DependenceGraph {
    for (const file of this.app.files) this.registerFunctions(file);
    for (const file of this.app.files) this.collectOverrides(file);
    for (const file of this.app.files) this.visitFile(file);
    this.linkObjectFields();
    this.linkFieldsByName();
    this.linkSlotCalls();
    return this.graph;
  }

  // ---- naming -------------------------------------------------------------------------------

  lineOf(node: ts.Node): number {
    const file = node.getSourceFile();
    return file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1;
  }

  private rel(node: ts.Node): string {
    const file = node.getSourceFile();
    let rel = this.relNames.get(file);
    if (rel === undefined) this.relNames.set(file, (rel = this.app.rel(file.fileName)));
    return rel;
  }

  isAppNode(node: ts.Node): boolean {
    return this.appFiles.has(node.getSourceFile());
  }

  private className(node: ts.Node): string | undefined {
    for (let p: ts.Node | undefined = node.parent; p !== undefined; p = p.parent) {
      if (ts.isClassLike(p)) return p.name?.text ?? `<class@${this.lineOf(p)}>`;
      if (isFunctionLike(p) || ts.isSourceFile(p)) return undefined;
    }
    return undefined;
  }

  private functionName(node: FunctionLike): string {
    const cls = this.className(node);
    if (ts.isConstructorDeclaration(node)) return `${cls ?? '?'}.constructor`;
    if (
      (ts.isMethodDeclaration(node) ||
        ts.isGetAccessorDeclaration(node) ||
        ts.isSetAccessorDeclaration(node)) &&
      cls !== undefined
    ) {
      return `${cls}.${node.name.getText()}`;
    }
    if (node.name !== undefined && !ts.isComputedPropertyName(node.name)) return node.name.getText();
    const parent = node.parent;
    if (
      ts.isVariableDeclaration(parent) ||
      ts.isPropertyAssignment(parent) ||
      ts.isPropertyDeclaration(parent)
    ) {
      return cls !== undefined && ts.isPropertyDeclaration(parent)
        ? `${cls}.${parent.name.getText()}`
        : parent.name.getText();
    }
    if (ts.isBinaryExpression(parent) && parent.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
      return parent.left.getText().replace(/\s+/g, '');
    }
    return `<anonymous>`;
  }

  /** The JSDoc tags of a declaration, including those on its variable statement. */
  static tags(node: ts.Node): readonly ts.JSDocTag[] {
    return ts.getJSDocTags(node);
  }

  private registerFunctions(file: ts.SourceFile): void {
    const moduleId = `${this.app.rel(file.fileName)}:<module>`;
    this.fnIds.set(file, moduleId);
    const lines = file.getLineAndCharacterOfPosition(file.getEnd()).line + 1;
    this.graph.functions.set(moduleId, {
      id: moduleId,
      name: '<module>',
      kind: 'module',
      file: this.app.rel(file.fileName),
      line: 1,
      endLine: lines,
      lines: 0,
      async: false,
      declassify: false,
      touches: new Set(),
      writes: new Set(),
    });
    const visit = (node: ts.Node): void => {
      if (isFunctionLike(node) && node.body !== undefined) this.registerFunction(node);
      ts.forEachChild(node, visit);
    };
    visit(file);
  }

  private registerFunction(node: FunctionLike): void {
    const name = this.functionName(node);
    const file = this.rel(node);
    const line = this.lineOf(node);
    const id = `${file}:${line}:${name}`;
    const source = node.getSourceFile();
    const endLine = source.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
    const kind: FunctionInfo['kind'] = ts.isConstructorDeclaration(node)
      ? 'constructor'
      : ts.isMethodDeclaration(node)
        ? 'method'
        : ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)
          ? 'accessor'
          : ts.isArrowFunction(node)
            ? 'arrow'
            : 'function';
    const around = this.enclosingFunction(node);
    const parent = ts.isSourceFile(around) ? undefined : this.fnIds.get(around);
    const returnType = this.signatureReturn(node);
    const isAsync =
      (ts.getCombinedModifierFlags(node as ts.Declaration) & ts.ModifierFlags.Async) !== 0 ||
      (returnType !== undefined && returnType.getSymbol()?.getName() === 'Promise');
    this.fnIds.set(node, id);
    this.graph.functions.set(id, {
      id,
      name,
      kind,
      file,
      line,
      endLine,
      lines: endLine - line + 1,
      async: isAsync,
      declassify:
        GraphBuilder.tags(node).some((t) => t.tagName.text === 'declassify') ||
        (ts.isVariableDeclaration(node.parent) &&
          GraphBuilder.tags(node.parent).some((t) => t.tagName.text === 'declassify')),
      className: this.className(node),
      parent,
      touches: new Set(),
      writes: new Set(),
    });
    this.graph.addNode({
      id: `${id}#return`,
      kind: 'return',
      label: `${name}() return`,
      file,
      line,
      owner: id,
      functionTyped: false,
      mayHoldFunction: returnType === undefined || this.mayHoldFunction(returnType),
    });
    this.graph.addNode({
      id: `${id}#value`,
      kind: 'function-value',
      label: `${name} (as a value)`,
      file,
      line,
      owner: parent,
      functionTyped: true,
    });
    node.parameters.forEach((p, i) => {
      const pid = this.paramId(id, p, i);
      this.declIds.set(p, pid);
      this.params.set(id, [...(this.params.get(id) ?? []), pid]);
      this.graph.addNode({
        id: pid,
        kind: 'param',
        label: `${name}(${p.name.getText()})`,
        file,
        line: this.lineOf(p),
        owner: id,
        functionTyped: this.isFunctionType(p),
        mayHoldFunction: this.mayHoldFunction(this.checker.getTypeAtLocation(p)),
      });
    });
  }

  /**
   * A function used as a value (callback, method reference, interface implementation) may be
   * called from anywhere its value flows: its value node then feeds its parameters and carries its
   * return (merged: the value node is one location). These are call and return edges for the
   * slices (what goes into the value comes back out only through the function's own flow from its
   * parameters to its return, or from state it reads), and one way only: what a direct caller
   * passes to a parameter does not flow back into the value.
   */
  private escape(fnValue: string): void {
    if (this.escaped.has(fnValue)) return;
    this.escaped.add(fnValue);
    const id = fnValue.slice(0, -'#value'.length);
    const fn = this.graph.functions.get(id);
    if (fn === undefined) return;
    // A closure is part of the frame around it: its value, parameters and return are one flow there.
    const kind = (k: 'call' | 'return'): 'call' | 'return' | undefined =>
      fn.parent === undefined ? k : undefined;
    for (const param of this.params.get(id) ?? []) {
      this.graph.addEdge(
        {
          from: fnValue,
          to: param,
          site: id,
          file: fn.file,
          line: fn.line,
          why: 'function value to its parameter',
          kind: kind('call'),
        },
        true,
      );
      // A callback parameter (`resolve`): what the function passes to it comes out as its result.
      if (this.graph.nodes.get(param)?.functionTyped === true)
        this.graph.addEdge(
          {
            from: param,
            to: `${id}#return`,
            site: id,
            file: fn.file,
            line: fn.line,
            why: 'what the function passes to its callback parameter',
          },
          true,
        );
    }
    this.graph.addEdge(
      {
        from: `${id}#return`,
        to: fnValue,
        site: id,
        file: fn.file,
        line: fn.line,
        why: 'return of a function value',
        kind: kind('return'),
      },
      true,
    );
  }

  /**
   * A call through a function value resolved to one application function it may hold
   * (`forge.util.bytesToHex(x)`, a namespace member): matched call and return edges at a site of
   * its own, as a direct call has, so a utility's result is sensitive only where a caller passes it
   * a secret. A closure shares the frame around it: plain flow there.
   */
  private linkResolvedCall(call: (typeof this.slotCalls)[number], fn: string): void {
    const name = this.graph.functions.get(fn)?.name;
    // A callee that reads or writes fields of objects it receives (`this.items.set(…)`) keeps plain
    // flow: its received fields are joined to the callers' objects only at direct call sites, so a
    // matched call here would lose what it writes into them.
    const nested =
      this.graph.functions.get(fn)?.parent !== undefined || (this.graph.objectFields.get(fn)?.size ?? 0) > 0;
    const file = this.rel(call.node);
    const line = this.lineOf(call.node);
    const siteArgs = new Map<string, string>();
    (this.params.get(fn) ?? []).forEach((p, i) => {
      const passed = call.args[i];
      if (passed === undefined) return;
      const why = `argument ${i + 1} of ${name} (through a function value)`;
      if (nested) {
        this.flow(passed, p, call.ctx, call.node, why);
        return;
      }
      const argId = `${call.result}>${p}`;
      this.graph.addNode({
        id: argId,
        kind: 'var',
        label: `argument ${i + 1} of ${name}`,
        file,
        line,
        owner: call.ctx.fn,
        functionTyped: this.graph.nodes.get(p)?.functionTyped === true,
        mayHoldFunction: this.graph.nodes.get(p)?.mayHoldFunction,
      });
      siteArgs.set(p, argId);
      this.flow(passed, argId, call.ctx, call.node, why);
      this.touch(call.ctx, [argId]);
      this.graph.addEdge({ from: argId, to: p, site: call.ctx.fn, file, line, why, kind: 'call' });
    });
    const why = `return of ${name} (through a function value)`;
    if (nested) {
      this.flow([`${fn}#return`], call.result, call.ctx, call.node, why);
      return;
    }
    this.graph.addEdge({
      from: `${fn}#return`,
      to: call.result,
      site: call.ctx.fn,
      file,
      line,
      why,
      kind: 'return',
    });
    this.graph.sites.push({
      site: `${call.result}>${fn}`,
      caller: call.ctx.fn,
      callee: fn,
      args: siteArgs,
      result: call.result,
    });
  }

  /** Distinct from the function's own `#value` and `#return` nodes (a parameter may be named `value`). */
  private paramId(fn: string, p: ts.ParameterDeclaration, i: number): string {
    return `${fn}#param:${ts.isIdentifier(p.name) ? p.name.text : i}`;
  }

  fnId(node: ts.Node): string | undefined {
    return this.fnIds.get(node);
  }

  /** The declaration of a function of the graph. */
  declarationOf(fnId: string): FunctionLike | undefined {
    for (const [node, id] of this.fnIds) if (id === fnId && isFunctionLike(node)) return node;
    return undefined;
  }

  private signatureReturn(node: FunctionLike): ts.Type | undefined {
    const sig = this.checker.getSignatureFromDeclaration(node);
    return sig === undefined ? undefined : this.checker.getReturnTypeOfSignature(sig);
  }

  /** Whether a value of this type may be a function (`any`, a type parameter, a callable type, `object`). */
  private mayHoldFunction(type: ts.Type): boolean {
    const parts = type.isUnionOrIntersection() ? type.types : [type];
    return parts.some(
      (t) =>
        (t.flags &
          (ts.TypeFlags.Any |
            ts.TypeFlags.Unknown |
            ts.TypeFlags.TypeParameter |
            ts.TypeFlags.NonPrimitive)) !==
          0 ||
        t.getCallSignatures().length + t.getConstructSignatures().length > 0 ||
        t.getSymbol()?.getName() === 'Function' ||
        ((t.flags & ts.TypeFlags.Object) !== 0 && t.getProperties().length === 0),
    );
  }

  private isFunctionType(node: ts.Node): boolean {
    const type = this.checker.getTypeAtLocation(node);
    if ((type.flags & ts.TypeFlags.Any) !== 0) return false;
    return type.getCallSignatures().length > 0 && type.getProperties().length <= 5 && !type.isClass();
  }

  // ---- nodes for declarations ------------------------------------------------------------------

  private enclosingFunction(node: ts.Node): ts.Node {
    for (let p: ts.Node | undefined = node.parent; p !== undefined; p = p.parent) {
      if (isFunctionLike(p) && this.fnIds.has(p)) return p;
      if (ts.isSourceFile(p)) return p;
    }
    return node.getSourceFile();
  }

  /** The node of a variable, parameter or binding declared in the application. */
  declarationNode(decl: ts.Node): string | undefined {
    const known = this.declIds.get(decl);
    if (known !== undefined) return known;
    if (!(ts.isVariableDeclaration(decl) || ts.isBindingElement(decl) || ts.isParameter(decl)))
      return undefined;
    if (!ts.isIdentifier(decl.name)) return undefined;
    const container = this.enclosingFunction(decl);
    const owner = ts.isSourceFile(container) ? undefined : this.fnIds.get(container);
    const file = this.rel(decl);
    const line = this.lineOf(decl);
    const id = owner === undefined ? `${file}#${decl.name.text}` : `${owner}#${decl.name.text}@${line}`;
    this.declIds.set(decl, id);
    this.graph.addNode({
      id,
      kind: ts.isParameter(decl) ? 'param' : 'var',
      label: decl.name.text,
      file,
      line,
      owner,
      functionTyped: this.isFunctionType(decl),
      mayHoldFunction: this.mayHoldFunction(this.checker.getTypeAtLocation(decl)),
    });
    return id;
  }

  /**
   * The ES5 class a `this.field = …` in a constructor function or prototype method declares its
   * field on: `ByteStringBuffer.data`, as for a class declaration, so
   * the runtime knows which fields of an instance stay in the enclave.
   */
  private es5ClassOf(decl: ts.Node): string | undefined {
    const access = ts.isBinaryExpression(decl) ? decl.left : decl;
    if (!ts.isPropertyAccessExpression(access) || access.expression.kind !== ts.SyntaxKind.ThisKeyword)
      return undefined;
    // The function whose `this` it is (an arrow function sees the one around it).
    let fn: ts.Node | undefined = access.parent;
    while (fn !== undefined && !ts.isFunctionDeclaration(fn) && !ts.isFunctionExpression(fn)) fn = fn.parent;
    return fn === undefined ? undefined : es5ClassOfThis(fn);
  }

  /** The abstract field of a property declaration: `Type.field`, one per declaring type. */
  fieldNode(decl: ts.Node, name: string): string {
    let owner = '';
    for (let p: ts.Node | undefined = decl.parent; p !== undefined; p = p.parent) {
      if (ts.isClassLike(p) || ts.isInterfaceDeclaration(p)) {
        owner = p.name?.text ?? `<class>@${this.rel(p)}:${this.lineOf(p)}`;
        break;
      }
      if (ts.isTypeAliasDeclaration(p)) {
        owner = p.name.text;
        break;
      }
      if (ts.isObjectLiteralExpression(p) || ts.isTypeLiteralNode(p)) {
        owner = `{}@${this.rel(p)}:${this.lineOf(p)}`;
        break;
      }
      if (ts.isSourceFile(p)) {
        owner = this.es5ClassOf(decl) ?? `${this.rel(p)}`;
        break;
      }
    }
    const external = !this.isAppNode(decl);
    const id = `field:${external ? 'lib:' : ''}${owner}.${name}`;
    this.graph.addNode({
      id,
      kind: 'field',
      label: `${owner}.${name}`,
      file: this.rel(decl),
      line: this.lineOf(decl),
      functionTyped: false,
      mayHoldFunction: isFunctionLike(decl) || this.mayHoldFunction(this.checker.getTypeAtLocation(decl)),
    });
    return id;
  }

  /**
   * Calls through function values, resolved by flow: the application functions whose values reach
   * the callee get the arguments and give their return (to a fixpoint, as new argument edges carry
   * more function values); a value no application function reaches is library code, whose result
   * derives from the value (and, for `any`, from the arguments).
   */
  private linkSlotCalls(): void {
    // Which function values reach each node, per round; the budget counts the steps a separate
    // walk from every function value would take.
    let holders: SeedReach | undefined;
    let values: string[] = [];
    // node-forge needs about 46 million over four rounds; past the budget every call through a
    // value is merged with it, which makes every namespace function as sensitive as the most.
    let budget = 64_000_000;
    const propagate = (): boolean => {
      values = [...this.graph.nodes.keys()].filter((id) => id.endsWith('#value'));
      // Only places whose type can hold a function carry function values on.
      holders = reachingSeeds(values, (id) =>
        this.graph.outgoing(id).filter((e) => this.graph.nodes.get(e.to)?.mayHoldFunction !== false),
      );
      budget -= holders.visits;
      return budget >= 0;
    };
    const functionsIn = (ids: string[]): Set<string> => {
      const found = new Set<string>();
      for (const id of ids)
        for (const k of holders?.seedsAt(id) ?? []) found.add(values[k].slice(0, -'#value'.length));
      return found;
    };
    const linked = this.slotCalls.map(() => new Set<string>());
    for (let round = 0, changed = true; changed && round < 4; round++) {
      changed = false;
      if (!propagate()) {
        // Too many function values flow too far to resolve: every such call is merged with its
        // value, both ways (sound, coarse), and recorded.
        for (const call of this.slotCalls) {
          for (const s of call.slot) {
            for (const a of call.args) this.flow(a, s, call.ctx, call.node, 'argument to a function value');
            this.flow([s], call.result, call.ctx, call.node, 'result of a function value');
          }
        }
        this.loss(
          this.app.files[0],
          'callback',
          'function values too widespread to resolve: calls through them merged with the values',
        );
        return;
      }
      this.slotCalls.forEach((call, k) => {
        const targets = functionsIn(call.slot);
        if (targets.size === 0 && linked[k].size === 0 && round === 0) {
          for (const s of call.slot) {
            // A library function held in a variable may keep what it is given (a promise's
            // `resolve`); a method read off an object keeps it, if at all, in its receiver.
            const kind = this.graph.nodes.get(s)?.kind;
            if (kind === 'param' || kind === 'var')
              for (const a of call.args)
                this.flow(a, s, call.ctx, call.node, 'argument to a library function value');
            this.flow([s], call.result, call.ctx, call.node, 'result of calling a library function value');
          }
          // A library method of an untyped value (`s.charCodeAt(i)` on an `any`) derives its result
          // from the value, as a library call with a known type does.
          this.flow(
            call.receiver,
            call.result,
            call.ctx,
            call.node,
            'result of a library method of its receiver',
          );
        }
        for (const fn of targets) {
          if (linked[k].has(fn)) continue;
          linked[k].add(fn);
          changed = true;
          this.linkResolvedCall(call, fn);
          this.touch(call.ctx, [call.result]);
          this.graph.calls.push({
            caller: call.ctx.fn,
            callee: fn,
            file: this.rel(call.node),
            line: this.lineOf(call.node),
            async: this.graph.functions.get(fn)?.async === true,
          });
        }
      });
    }
  }

  /**
   * Field-based by name where types are missing: `(any).f` is the same location as every declared
   * field `T.f` of the application, both ways, so a read through `any` sees typed writes and back.
   */
  private linkFieldsByName(): void {
    const typed = [...this.graph.nodes.values()].filter(
      (n) =>
        n.kind === 'field' &&
        n.field === undefined &&
        !n.id.startsWith('field:any.') &&
        !n.id.startsWith('field:lib:'),
    );
    for (const field of typed) {
      const name = field.id.slice(field.id.lastIndexOf('.') + 1);
      const any = `field:any.${name}`;
      if (!this.graph.nodes.has(any)) continue;
      const edge = {
        site: '',
        file: field.file,
        line: field.line,
        why: `\`${name}\` read or written through \`any\``,
      };
      this.graph.addEdge({ ...edge, from: field.id, to: any });
      this.graph.addEdge({ ...edge, from: any, to: field.id });
    }
  }

  private anyField(name: string, at: ts.Node): string {
    const id = `field:any.${name}`;
    this.graph.addNode({
      id,
      kind: 'field',
      label: `(any).${name}`,
      file: this.rel(at),
      line: this.lineOf(at),
      functionTyped: false,
    });
    return id;
  }

  private loss(at: ts.Node, reason: PrecisionLoss['reason'], detail: string): void {
    this.graph.precisionLoss.push({ file: this.rel(at), line: this.lineOf(at), reason, detail });
  }

  private resolveSymbol(node: ts.Node): ts.Symbol | undefined {
    let symbol = this.checker.getSymbolAtLocation(node);
    if (symbol !== undefined && (symbol.flags & ts.SymbolFlags.Alias) !== 0) {
      try {
        symbol = this.checker.getAliasedSymbol(symbol);
      } catch {
        return symbol;
      }
    }
    return symbol;
  }

  private collectOverrides(file: ts.SourceFile): void {
    const visit = (node: ts.Node): void => {
      if (ts.isClassLike(node)) {
        for (const member of node.members) {
          if (!ts.isMethodDeclaration(member) || member.body === undefined) continue;
          for (const base of this.baseClasses(node)) {
            const baseMember = base.members.find(
              (m) => ts.isMethodDeclaration(m) && m.name.getText() === member.name.getText(),
            );
            if (baseMember !== undefined) {
              const list = this.overrides.get(baseMember) ?? [];
              list.push(member);
              this.overrides.set(baseMember, list);
            }
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }

  private baseClasses(cls: ts.ClassLikeDeclaration, depth = 0): ts.ClassLikeDeclaration[] {
    if (depth > 20) return [];
    const out: ts.ClassLikeDeclaration[] = [];
    for (const clause of cls.heritageClauses ?? []) {
      for (const expr of clause.types) {
        const symbol = this.resolveSymbol(expr.expression);
        for (const decl of symbol?.declarations ?? []) {
          if (ts.isClassLike(decl) && this.isAppNode(decl))
            out.push(decl, ...this.baseClasses(decl, depth + 1));
        }
      }
    }
    return out;
  }

  // ---- flows ---------------------------------------------------------------------------------

  private flow(from: Iterable<string>, to: string, ctx: Context, at: ts.Node, why: string): void {
    this.graph.functions.get(ctx.fn)?.writes.add(to);
    let file: string | undefined;
    let line = 0;
    for (const f of from) {
      if (file === undefined) {
        file = this.rel(at);
        line = this.lineOf(at);
      }
      this.graph.addEdge({ from: f, to, site: ctx.fn, file, line, why });
    }
  }

  private touch(ctx: Context, ids: Iterable<string>): void {
    const info = this.graph.functions.get(ctx.fn);
    if (info !== undefined) for (const id of ids) info.touches.add(id);
  }

  private visitFile(file: ts.SourceFile): void {
    const ctx: Context = { fn: this.fnIds.get(file) ?? '', file };
    for (const statement of file.statements) this.statement(statement, ctx);
  }

  private functionBody(node: FunctionLike): void {
    const id = this.fnIds.get(node);
    if (id === undefined || node.body === undefined) return;
    const ctx: Context = { fn: id, file: node.getSourceFile() };
    const info = this.graph.functions.get(id);
    node.parameters.forEach((p, i) => {
      const pid = this.paramId(id, p, i);
      info?.touches.add(pid);
      if (!ts.isIdentifier(p.name)) this.bindPattern(p.name, [pid], ctx);
      if (p.initializer !== undefined) this.flow(this.expr(p.initializer, ctx), pid, ctx, p, 'default value');
      // A parameter property (`constructor(private key: …)`) is a field of the object being built.
      if (ts.isParameterPropertyDeclaration(p, p.parent) && ts.isIdentifier(p.name)) {
        const field = this.fieldNode(p, p.name.text);
        this.flow([pid], this.receivedField(id, 'this', p.name.text, field), ctx, p, 'parameter property');
      }
    });
    info?.touches.add(`${id}#return`);
    if (ts.isBlock(node.body)) this.statement(node.body, ctx);
    else this.flow(this.expr(node.body, ctx), `${id}#return`, ctx, node.body, 'return');
    this.checkHostIo(node, id);
  }

  private checkHostIo(node: ts.Node, id: string): void {
    const info = this.graph.functions.get(id);
    if (info === undefined || info.pinnedHost !== undefined) return;
    const visit = (n: ts.Node): void => {
      if (info.pinnedHost !== undefined || (n !== node && isFunctionLike(n))) return;
      if (ts.isIdentifier(n) && this.isCalled(n)) {
        // The import or require binding itself (not what it aliases) names the module.
        const decl = this.checker.getSymbolAtLocation(n)?.declarations?.[0];
        const module = decl === undefined ? undefined : this.importedModule(decl);
        if (module !== undefined && HOST_IO.test(module))
          info.pinnedHost = `uses ${module} (${this.rel(n)}:${this.lineOf(n)})`;
      }
      ts.forEachChild(n, visit);
    };
    visit(node);
  }

  /** `n` is what a call or `new` invokes, or the object whose method it invokes (`fs.readFileSync(…)`). */
  private isCalled(n: ts.Identifier): boolean {
    const p = n.parent;
    if ((ts.isCallExpression(p) || ts.isNewExpression(p)) && p.expression === n) return true;
    const q = p.parent;
    return (
      ts.isPropertyAccessExpression(p) &&
      p.expression === n &&
      q !== undefined &&
      (ts.isCallExpression(q) || ts.isNewExpression(q)) &&
      q.expression === p
    );
  }

  /** The module an import or `require` binding comes from. */
  private importedModule(decl: ts.Node): string | undefined {
    for (let p: ts.Node | undefined = decl; p !== undefined; p = p.parent) {
      if (ts.isImportDeclaration(p) && ts.isStringLiteral(p.moduleSpecifier)) return p.moduleSpecifier.text;
      if (ts.isVariableDeclaration(p)) {
        let init = p.initializer;
        while (init !== undefined && ts.isPropertyAccessExpression(init)) init = init.expression;
        if (
          init !== undefined &&
          ts.isCallExpression(init) &&
          ts.isIdentifier(init.expression) &&
          init.expression.text === 'require'
        ) {
          const arg = init.arguments[0];
          return arg !== undefined && ts.isStringLiteral(arg) ? arg.text : undefined;
        }
        return undefined;
      }
      if (ts.isSourceFile(p) || ts.isBlock(p)) return undefined;
    }
    return undefined;
  }

  private statement(node: ts.Node, ctx: Context): void {
    if (isFunctionLike(node)) {
      this.functionBody(node);
      return;
    }
    if (ts.isVariableDeclaration(node)) {
      if (node.initializer === undefined) {
        if (ts.isIdentifier(node.name)) this.declarationNode(node);
        return;
      }
      const sources = this.expr(node.initializer, ctx);
      if (ts.isIdentifier(node.name)) {
        const id = this.declarationNode(node);
        if (id !== undefined) {
          this.flow(sources, id, ctx, node, 'initializer');
          this.linkStructural(node.initializer, node, ctx);
        }
      } else {
        this.bindPattern(node.name, sources, ctx, node.initializer);
      }
      return;
    }
    if (ts.isReturnStatement(node)) {
      if (node.expression !== undefined) {
        const sources = this.expr(node.expression, ctx);
        if (!ctx.fn.endsWith('<module>')) {
          this.flow(sources, `${ctx.fn}#return`, ctx, node, 'return');
        }
      }
      return;
    }
    if (ts.isExpressionStatement(node)) {
      this.expr(node.expression, ctx);
      return;
    }
    if (ts.isForOfStatement(node) || ts.isForInStatement(node)) {
      const sources = this.expr(node.expression, ctx);
      const init = node.initializer;
      if (ts.isVariableDeclarationList(init)) {
        for (const d of init.declarations) {
          if (ts.isIdentifier(d.name)) {
            const id = this.declarationNode(d);
            if (id !== undefined) this.flow(sources, id, ctx, d, 'loop element');
          } else this.bindPattern(d.name, sources, ctx);
        }
      } else this.assignTo(init, sources, ctx, node);
      this.statement(node.statement, ctx);
      return;
    }
    if (ts.isClassLike(node)) {
      this.classMembers(node, ctx);
      return;
    }
    if (ts.isCatchClause(node) && node.variableDeclaration !== undefined) {
      this.declarationNode(node.variableDeclaration);
    }
    if (ts.isExpression(node)) {
      this.expr(node, ctx);
      return;
    }
    ts.forEachChild(node, (child) => this.statement(child, ctx));
  }

  private classMembers(node: ts.ClassLikeDeclaration, ctx: Context): void {
    for (const member of node.members) {
      if (ts.isPropertyDeclaration(member)) {
        const field = this.fieldNode(member, member.name.getText());
        this.linkHeritage(node, member.name.getText(), field, member, ctx);
        if (member.initializer !== undefined) {
          const ctor = node.members.find((m) => ts.isConstructorDeclaration(m) && m.body !== undefined);
          const ctorId = ctor === undefined ? undefined : this.fnIds.get(ctor);
          const site = ctorId !== undefined ? { ...ctx, fn: ctorId } : ctx;
          // Initialised on the object being constructed: the constructor's `this`.
          const target =
            ctorId !== undefined && this.splitField(member)
              ? this.receivedField(ctorId, 'this', member.name.getText(), field)
              : field;
          this.flow(this.expr(member.initializer, site), target, site, member, 'field initializer');
        }
      } else if (isFunctionLike(member)) {
        const id = this.fnIds.get(member);
        if (id !== undefined && member.name !== undefined && !ts.isConstructorDeclaration(member)) {
          this.linkHeritage(node, member.name.getText(), `${id}#value`, member, ctx);
        }
        this.functionBody(member);
      } else {
        ts.forEachChild(member, (child) => this.statement(child, ctx));
      }
    }
  }

  /** A member of a class is also the same-named member of the interfaces and classes it extends. */
  private linkHeritage(
    cls: ts.ClassLikeDeclaration,
    name: string,
    node: string,
    at: ts.Node,
    ctx: Context,
  ): void {
    for (const clause of cls.heritageClauses ?? []) {
      for (const expr of clause.types) {
        const base = this.checker.getTypeAtLocation(expr);
        const prop = base.getProperty(name);
        for (const decl of prop?.declarations ?? []) {
          const baseNode = this.memberNode(decl, name);
          if (baseNode === undefined || baseNode === node) continue;
          // Called through an interface or abstract member: the implementation is a function value.
          if (node.endsWith('#value') && !(isFunctionLike(decl) && decl.body !== undefined))
            this.escape(node);
          this.graph.addEdge({
            from: node,
            to: baseNode,
            site: ctx.fn,
            file: this.rel(at),
            line: this.lineOf(at),
            why: 'inherited member',
          });
          this.graph.addEdge({
            from: baseNode,
            to: node,
            site: ctx.fn,
            file: this.rel(at),
            line: this.lineOf(at),
            why: 'inherited member',
          });
        }
      }
    }
  }

  /** The node a member declaration stands for: a method's function value, else its field. */
  private memberNode(decl: ts.Node, name: string): string | undefined {
    if (isFunctionLike(decl) && this.fnIds.has(decl)) return `${this.fnIds.get(decl)}#value`;
    if (
      ts.isPropertyAssignment(decl) &&
      isFunctionLike(decl.initializer) &&
      this.fnIds.has(decl.initializer)
    ) {
      return `${this.fnIds.get(decl.initializer)}#value`;
    }
    if (ts.isBinaryExpression(decl) && isFunctionLike(decl.right) && this.fnIds.has(decl.right)) {
      return `${this.fnIds.get(decl.right)}#value`;
    }
    return this.fieldNode(decl, name);
  }

  /**
   * Type-based aliasing: when a value of one object type is used as another (assignment,
   * argument, return), their same-named fields are one location (one level deep).
   */
  private linkStructural(source: ts.Expression, target: ts.Node, ctx: Context): void {
    const from = this.checker.getTypeAtLocation(source);
    const to = this.checker.getTypeAtLocation(target);
    if (from === to || (from.flags & ts.TypeFlags.Object) === 0 || (to.flags & ts.TypeFlags.Object) === 0)
      return;
    for (const prop of to.getProperties().slice(0, 64)) {
      const other = from.getProperty(prop.getName());
      const a = prop.declarations?.[0];
      const b = other?.declarations?.[0];
      if (a === undefined || b === undefined || a === b) continue;
      if (!this.isAppNode(a) && !this.isAppNode(b)) continue;
      const na = this.memberNode(a, prop.getName());
      const nb = this.memberNode(b, prop.getName());
      if (na === undefined || nb === undefined) continue;
      this.graph.addEdge({
        from: nb,
        to: na,
        site: ctx.fn,
        file: this.rel(source),
        line: this.lineOf(source),
        why: 'same field of aliased types',
      });
      this.graph.addEdge({
        from: na,
        to: nb,
        site: ctx.fn,
        file: this.rel(source),
        line: this.lineOf(source),
        why: 'same field of aliased types',
      });
    }
  }

  private bindPattern(
    pattern: ts.BindingName,
    sources: Iterable<string>,
    ctx: Context,
    init?: ts.Expression,
  ): void {
    const list = [...sources];
    if (ts.isIdentifier(pattern)) return;
    for (const element of pattern.elements) {
      if (ts.isOmittedExpression(element)) continue;
      let from = list;
      if (ts.isObjectBindingPattern(pattern)) {
        const prop = element.propertyName ?? element.name;
        if (ts.isIdentifier(prop) && init !== undefined) {
          const type = this.checker.getTypeAtLocation(init);
          const symbol = type.getProperty(prop.text);
          const decl = symbol?.declarations?.[0];
          if (decl !== undefined)
            from = [...list, this.memberNode(decl, prop.text) ?? this.anyField(prop.text, element)];
          else from = [...list, this.anyField(prop.text, element)];
        }
      }
      if (ts.isIdentifier(element.name)) {
        const id = this.declarationNode(element);
        if (id !== undefined) this.flow(from, id, ctx, element, 'destructuring');
        if (element.initializer !== undefined && id !== undefined)
          this.flow(this.expr(element.initializer, ctx), id, ctx, element, 'default value');
      } else this.bindPattern(element.name, from, ctx);
    }
  }

  // ---- expressions ---------------------------------------------------------------------------

  /** Nodes whose values flow into the value of `node`; records its side effects on the way. */
  expr(node: ts.Expression, ctx: Context): Set<string> {
    const out = this.exprInner(node, ctx);
    for (const id of out) if (id.endsWith('#value')) this.escape(id);
    this.touch(ctx, out);
    return out;
  }

  private exprInner(node: ts.Expression, ctx: Context): Set<string> {
    if (
      ts.isParenthesizedExpression(node) ||
      ts.isAsExpression(node) ||
      ts.isNonNullExpression(node) ||
      ts.isTypeAssertionExpression(node) ||
      ts.isSatisfiesExpression(node) ||
      ts.isAwaitExpression(node) ||
      ts.isSpreadElement(node) ||
      ts.isTypeOfExpression(node) ||
      ts.isVoidExpression(node) ||
      ts.isPrefixUnaryExpression(node) ||
      ts.isPostfixUnaryExpression(node) ||
      ts.isDeleteExpression(node)
    ) {
      const inner = this.expr(
        (node as { expression?: ts.Expression; operand?: ts.Expression }).expression ??
          (node as { operand: ts.Expression }).operand,
        ctx,
      );
      if (
        (ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) &&
        (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken)
      ) {
        this.assignTo(node.operand, inner, ctx, node);
      }
      return inner;
    }
    if (ts.isIdentifier(node)) return this.identifier(node, ctx);
    if (node.kind === ts.SyntaxKind.ThisKeyword || node.kind === ts.SyntaxKind.SuperKeyword) return new Set();
    if (isFunctionLike(node)) {
      this.functionBody(node);
      const id = this.fnIds.get(node);
      return new Set(id === undefined ? [] : [`${id}#value`]);
    }
    if (ts.isClassExpression(node)) {
      this.classMembers(node, ctx);
      return new Set();
    }
    if (ts.isPropertyAccessExpression(node)) return this.propertyRead(node, ctx);
    if (ts.isElementAccessExpression(node)) return this.elementRead(node, ctx);
    if (ts.isCallExpression(node) || ts.isNewExpression(node)) return this.call(node, ctx);
    if (ts.isBinaryExpression(node)) return this.binary(node, ctx);
    if (ts.isConditionalExpression(node)) {
      this.expr(node.condition, ctx);
      return new Set([...this.expr(node.whenTrue, ctx), ...this.expr(node.whenFalse, ctx)]);
    }
    if (ts.isObjectLiteralExpression(node)) return this.objectLiteral(node, ctx);
    if (ts.isArrayLiteralExpression(node)) return this.union(node.elements.map((e) => this.expr(e, ctx)));
    if (ts.isTemplateExpression(node))
      return this.union(node.templateSpans.map((s) => this.expr(s.expression, ctx)));
    if (ts.isTaggedTemplateExpression(node)) {
      this.expr(node.tag, ctx);
      return this.expr(node.template, ctx);
    }
    if (ts.isYieldExpression(node)) {
      const inner = node.expression === undefined ? new Set<string>() : this.expr(node.expression, ctx);
      this.flow(inner, `${ctx.fn}#return`, ctx, node, 'yield');
      return new Set();
    }
    const all = new Set<string>();
    ts.forEachChild(node, (child) => {
      if (ts.isExpression(child)) for (const id of this.expr(child, ctx)) all.add(id);
    });
    return all;
  }

  private union(sets: Iterable<Set<string>>): Set<string> {
    const out = new Set<string>();
    for (const s of sets) for (const id of s) out.add(id);
    return out;
  }

  private identifier(node: ts.Identifier, _ctx: Context): Set<string> {
    if (node.text === 'undefined') return new Set();
    const symbol = this.resolveSymbol(node);
    const decl = symbol?.valueDeclaration ?? symbol?.declarations?.[0];
    if (decl === undefined) return new Set();
    // Library globals and imports (Object, Math, crypto) hold no application data: not a node.
    if (!this.isAppNode(decl)) return new Set();
    if (isFunctionLike(decl) && this.fnIds.has(decl)) return new Set([`${this.fnIds.get(decl)}#value`]);
    if (
      ts.isVariableDeclaration(decl) &&
      decl.initializer !== undefined &&
      isFunctionLike(decl.initializer) &&
      this.fnIds.has(decl.initializer)
    ) {
      const id = this.declarationNode(decl);
      return new Set(id === undefined ? [] : [id]);
    }
    const id = this.declarationNode(decl);
    if (id !== undefined) return new Set([id]);
    if (
      ts.isClassLike(decl) ||
      ts.isImportClause(decl) ||
      ts.isNamespaceImport(decl) ||
      ts.isSourceFile(decl)
    )
      return new Set();
    if (
      ts.isPropertyAssignment(decl) ||
      ts.isShorthandPropertyAssignment(decl) ||
      ts.isBinaryExpression(decl) ||
      ts.isPropertyDeclaration(decl) ||
      ts.isPropertyAccessExpression(decl)
    ) {
      return new Set([this.memberNode(decl, node.text) ?? this.anyField(node.text, node)]);
    }
    return new Set();
  }

  private isAny(type: ts.Type): boolean {
    return (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) !== 0;
  }

  /** The nodes a property access denotes: fields by declaring type, or `(any).name` where types are missing. */
  private propertyNodes(
    node: ts.PropertyAccessExpression | ts.ElementAccessExpression,
    name: string,
    receiver: Set<string>,
    ctx: Context,
    write = false,
  ): Set<string> {
    const symbol = this.checker.getSymbolAtLocation(
      ts.isPropertyAccessExpression(node) ? node.name : node.argumentExpression,
    );
    const decls = symbol?.declarations ?? [];
    const out = new Set<string>();
    if (decls.length === 0) {
      const type = this.checker.getTypeAtLocation(node.expression);
      if (this.isAny(type) || (type.flags & ts.TypeFlags.Object) !== 0) {
        this.loss(
          node,
          'any',
          `\`${node.getText().slice(0, 60)}\`: receiver has no declared field \`${name}\`; every field named \`${name}\` merged`,
        );
        out.add(this.anyField(name, node));
      } else {
        for (const r of receiver) out.add(r); // a property of a primitive (length, …) derives from it
      }
      return out;
    }
    for (const decl of decls) {
      if (!this.isAppNode(decl)) {
        for (const r of receiver) out.add(r); // a library member (Buffer.length, Map.size) derives from its object
        continue;
      }
      // An accessor runs: a read is a call of its getter, a write one of its setter.
      if (ts.isGetAccessorDeclaration(decl) || ts.isSetAccessorDeclaration(decl)) {
        if (ts.isGetAccessorDeclaration(decl) === write || !this.fnIds.has(decl)) continue;
        out.add(this.accessorCall(node, decl, write, ctx));
        continue;
      }
      if (this.splitField(decl)) {
        out.add(this.objectField(node.expression, name, this.fieldNode(decl, name)));
        continue;
      }
      const m = this.memberNode(decl, name);
      if (m !== undefined) out.add(m);
    }
    return out;
  }

  private propertyRead(node: ts.PropertyAccessExpression, ctx: Context): Set<string> {
    const receiver = this.expr(node.expression, ctx);
    if (
      ts.isIdentifier(node.expression) &&
      ['module', 'exports'].includes(node.expression.text) &&
      !this.resolveSymbol(node.expression)
    ) {
      return new Set();
    }
    return this.propertyNodes(node, node.name.text, receiver, ctx);
  }

  private elementRead(node: ts.ElementAccessExpression, ctx: Context): Set<string> {
    const receiver = this.expr(node.expression, ctx);
    const key = this.expr(node.argumentExpression, ctx);
    const arg = node.argumentExpression;
    if (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg))
      return this.propertyNodes(node, arg.text, receiver, ctx);
    const type = this.checker.getTypeAtLocation(node.expression);
    if (this.checker.isArrayLikeType(type) || this.isTypedArray(type)) return this.union([receiver, key]); // elements are the array's value
    this.loss(
      node,
      'dynamic-property',
      `\`${node.getText().slice(0, 60)}\`: computed key; every field of the object merged`,
    );
    const star = this.starNode(node);
    return this.union([receiver, key, new Set([star])]);
  }

  private isTypedArray(type: ts.Type): boolean {
    const name = type.getSymbol()?.getName() ?? '';
    return /^(Uint8|Uint16|Uint32|Int8|Int16|Int32|Float32|Float64|BigInt64|BigUint64|Uint8Clamped)Array$|^Buffer$|^ArrayBuffer$/.test(
      name,
    );
  }

  /** `T.*`: all fields of the receiver's type; written by `o[k] = v`, read by `o[k]`; merged with the receiver. */
  private starNode(node: ts.ElementAccessExpression): string {
    const type = this.checker.getTypeAtLocation(node.expression);
    const name = this.isAny(type) ? 'any' : this.checker.typeToString(type).slice(0, 60);
    const id = `field:${name}.*`;
    this.graph.addNode({
      id,
      kind: 'field',
      label: `${name}[*]`,
      file: this.rel(node),
      line: this.lineOf(node),
      functionTyped: false,
    });
    return id;
  }

  private binary(node: ts.BinaryExpression, ctx: Context): Set<string> {
    const op = node.operatorToken.kind;
    if (op >= ts.SyntaxKind.FirstAssignment && op <= ts.SyntaxKind.LastAssignment) {
      const right = this.expr(node.right, ctx);
      const sources =
        op === ts.SyntaxKind.EqualsToken ? right : this.union([right, this.expr(node.left, ctx)]);
      this.assignTo(node.left, sources, ctx, node);
      if (op === ts.SyntaxKind.EqualsToken) this.linkStructural(node.right, node.left, ctx);
      return sources;
    }
    if (op === ts.SyntaxKind.CommaToken) {
      this.expr(node.left, ctx);
      return this.expr(node.right, ctx);
    }
    return this.union([this.expr(node.left, ctx), this.expr(node.right, ctx)]);
  }

  /** The nodes an assignment target writes; the receiver of `o.f` / `o[k]` is read, not written. */
  private assignTo(target: ts.Node, sources: Iterable<string>, ctx: Context, at: ts.Node): void {
    const list = [...sources];
    if (ts.isParenthesizedExpression(target)) return this.assignTo(target.expression, list, ctx, at);
    if (ts.isIdentifier(target)) {
      for (const id of this.identifier(target, ctx)) this.flow(list, id, ctx, at, 'assignment');
      return;
    }
    if (ts.isPropertyAccessExpression(target)) {
      if (this.isModuleExports(target)) return;
      const receiver = this.expr(target.expression, ctx);
      const fields = this.propertyNodes(target, target.name.text, new Set(), ctx, true);
      if (fields.size === 0) for (const r of receiver) this.flow(list, r, ctx, at, 'write into object');
      for (const f of fields) this.flow(list, f, ctx, at, 'field write');
      return;
    }
    if (ts.isElementAccessExpression(target)) {
      const receiver = this.expr(target.expression, ctx);
      this.expr(target.argumentExpression, ctx);
      const arg = target.argumentExpression;
      if (ts.isStringLiteral(arg)) {
        for (const f of this.propertyNodes(target, arg.text, new Set(), ctx, true))
          this.flow(list, f, ctx, at, 'field write');
        return;
      }
      for (const r of receiver) this.flow(list, r, ctx, at, 'element write');
      const type = this.checker.getTypeAtLocation(target.expression);
      if (!this.checker.isArrayLikeType(type) && !this.isTypedArray(type)) {
        this.loss(
          target,
          'dynamic-property',
          `\`${target.getText().slice(0, 60)}\` = …: computed key; every field of the object merged`,
        );
        this.flow(list, this.starNode(target), ctx, at, 'computed field write');
      }
      return;
    }
    if (ts.isObjectLiteralExpression(target) || ts.isArrayLiteralExpression(target)) {
      const parts = ts.isObjectLiteralExpression(target) ? target.properties : target.elements;
      for (const part of parts) {
        const inner = ts.isPropertyAssignment(part)
          ? part.initializer
          : ts.isShorthandPropertyAssignment(part)
            ? part.name
            : ts.isSpreadElement(part) || ts.isSpreadAssignment(part)
              ? part.expression
              : part;
        this.assignTo(inner, list, ctx, at);
      }
    }
  }

  private isModuleExports(node: ts.Node): boolean {
    return (
      ts.isPropertyAccessExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'module' &&
      node.name.text === 'exports'
    );
  }

  private objectLiteral(node: ts.ObjectLiteralExpression, ctx: Context): Set<string> {
    const all = new Set<string>();
    for (const prop of node.properties) {
      if (ts.isSpreadAssignment(prop)) {
        for (const id of this.expr(prop.expression, ctx)) all.add(id);
        continue;
      }
      if (isFunctionLike(prop)) {
        this.functionBody(prop);
        continue;
      }
      const value = ts.isPropertyAssignment(prop)
        ? this.expr(prop.initializer, ctx)
        : ts.isShorthandPropertyAssignment(prop)
          ? this.expr(prop.name, ctx)
          : new Set<string>();
      const name =
        prop.name !== undefined && !ts.isComputedPropertyName(prop.name)
          ? prop.name.getText().replace(/^['"]|['"]$/g, '')
          : undefined;
      if (name === undefined) {
        this.loss(
          prop,
          'dynamic-property',
          'computed key in an object literal; the value is merged into the object',
        );
      } else {
        const field = this.memberNode(prop, name);
        if (field !== undefined && !(ts.isPropertyAssignment(prop) && isFunctionLike(prop.initializer)))
          this.flow(value, field, ctx, prop, 'field initializer');
        // The same name in the type the literal is used as (its contextual type).
        const contextual = this.checker.getContextualType(node);
        const target = contextual?.getProperty(name)?.declarations?.[0];
        if (target !== undefined && target !== prop && this.isAppNode(target)) {
          const tnode = this.memberNode(target, name);
          if (tnode !== undefined) this.flow(value, tnode, ctx, prop, 'field of the contextual type');
        }
      }
      for (const id of value) all.add(id);
    }
    return all;
  }

  // ---- objects: fields per allocation site and per received object --------------------------

  /** Fields told apart per object: instance properties of application classes (and parameter properties). */
  private splitField(decl: ts.Node): boolean {
    if (!this.isAppNode(decl)) return false;
    if (ts.isParameter(decl))
      return ts.isParameterPropertyDeclaration(decl, decl.parent) && ts.isIdentifier(decl.name);
    if (!ts.isPropertyDeclaration(decl) || !ts.isClassLike(decl.parent)) return false;
    if ((ts.getCombinedModifierFlags(decl) & (ts.ModifierFlags.Static | ts.ModifierFlags.Abstract)) !== 0)
      return false;
    return decl.initializer === undefined || !isFunctionLike(decl.initializer);
  }

  private variant(field: string, id: string): void {
    let set = this.graph.fieldVariants.get(field);
    if (set === undefined) this.graph.fieldVariants.set(field, (set = new Set()));
    set.add(id);
  }

  /** Field `name` of the object function `fn` received as `root` (`this` or a parameter): an input and output of `fn`. */
  private receivedField(fn: string, root: string, name: string, field: string): string {
    const id = `${fn}#${root}.${name}`;
    if (this.received.has(id)) return id;
    const base = this.graph.nodes.get(field);
    this.graph.addNode({
      id,
      kind: 'param',
      label: `${this.graph.functions.get(fn)?.name ?? fn}: ${root}.${name}`,
      file: base?.file ?? '',
      line: base?.line ?? 0,
      owner: fn,
      functionTyped: false,
      mayHoldFunction: base?.mayHoldFunction,
      field,
    });
    this.received.set(id, { fn, root, name, field });
    this.variant(field, id);
    let set = this.graph.objectFields.get(fn);
    if (set === undefined) this.graph.objectFields.set(fn, (set = new Set()));
    set.add(id);
    return id;
  }

  /** Field `name` of the objects made at one allocation site. */
  private siteField(site: ts.NewExpression, name: string, field: string): string {
    const cls = this.resolveSymbol(site.expression)?.getName() ?? site.expression.getText();
    const id = `field:${cls}.${name}@${this.rel(site)}:${this.lineOf(site)}:${site.getStart()}`;
    const base = this.graph.nodes.get(field);
    this.graph.addNode({
      id,
      kind: 'field',
      label: `${cls}.${name}`,
      file: this.rel(site),
      line: this.lineOf(site),
      functionTyped: false,
      mayHoldFunction: base?.mayHoldFunction,
      field,
    });
    this.variant(field, id);
    return id;
  }

  /** The node of field `name` of the object `receiver` denotes (`field`: the class's field, for any object). */
  private objectField(receiver: ts.Expression, name: string, field: string): string {
    const root = this.rootOf(receiver);
    if (root === undefined) return field;
    return root.kind === 'received'
      ? this.receivedField(root.fn, root.root, name, field)
      : this.siteField(root.site, name, field);
  }

  private unwrap(e: ts.Expression): ts.Expression {
    while (
      ts.isParenthesizedExpression(e) ||
      ts.isAsExpression(e) ||
      ts.isNonNullExpression(e) ||
      ts.isTypeAssertionExpression(e) ||
      ts.isSatisfiesExpression(e)
    )
      e = e.expression;
    return e;
  }

  private rootOf(expr: ts.Expression): ObjectRoot | undefined {
    const e = this.unwrap(expr);
    if (e.kind === ts.SyntaxKind.ThisKeyword || e.kind === ts.SyntaxKind.SuperKeyword) {
      const fn = this.thisOwner(e);
      const id = fn === undefined ? undefined : this.fnIds.get(fn);
      return id === undefined ? undefined : { kind: 'received', fn: id, root: 'this' };
    }
    if (ts.isNewExpression(e)) return this.isTracked(e) ? { kind: 'site', site: e } : undefined;
    if (!ts.isIdentifier(e)) return undefined;
    const decl = this.resolveSymbol(e)?.valueDeclaration;
    if (decl === undefined || !this.isAppNode(decl)) return undefined;
    if (ts.isParameter(decl) && this.isRootParam(decl)) {
      const id = this.fnIds.get(decl.parent);
      return id === undefined
        ? undefined
        : { kind: 'received', fn: id, root: (decl.name as ts.Identifier).text };
    }
    if (ts.isVariableDeclaration(decl) && decl.initializer !== undefined) {
      const init = this.unwrap(decl.initializer);
      if (ts.isNewExpression(init) && this.isTracked(init)) return { kind: 'site', site: init };
    }
    return undefined;
  }

  /** The method, constructor or accessor whose `this` a `this`/`super` is (arrow functions see through). */
  private thisOwner(node: ts.Node): FunctionLike | undefined {
    for (let p: ts.Node | undefined = node.parent; p !== undefined; p = p.parent) {
      if (ts.isArrowFunction(p)) continue;
      if (isFunctionLike(p)) {
        if (ts.isFunctionDeclaration(p) || ts.isFunctionExpression(p) || !ts.isClassLike(p.parent))
          return undefined;
        if ((ts.getCombinedModifierFlags(p) & ts.ModifierFlags.Static) !== 0) return undefined;
        return this.fnIds.has(p) ? p : undefined;
      }
      if (ts.isClassLike(p) || ts.isSourceFile(p) || ts.isPropertyDeclaration(p)) return undefined;
    }
    return undefined;
  }

  /** A parameter that names the object it was given throughout its function (never assigned). */
  private isRootParam(decl: ts.ParameterDeclaration): boolean {
    if (!ts.isIdentifier(decl.name) || decl.dotDotDotToken !== undefined || decl.name.text === 'this')
      return false;
    const fn = decl.parent;
    if (!isFunctionLike(fn) || fn.body === undefined || !this.fnIds.has(fn)) return false;
    return this.references(decl, fn.body).every((ref) => !this.isAssigned(ref));
  }

  /** Identifiers in `scope` that refer to `decl`. */
  private references(decl: ts.Declaration, scope: ts.Node): ts.Identifier[] {
    const symbol = this.checker.getSymbolAtLocation((decl as ts.NamedDeclaration).name as ts.Node);
    const out: ts.Identifier[] = [];
    const visit = (n: ts.Node): void => {
      if (ts.isIdentifier(n)) {
        if (n !== (decl as ts.NamedDeclaration).name && n.text === symbol?.getName()) {
          // `{ key }` in an object literal refers to the variable through its shorthand symbol.
          const s = ts.isShorthandPropertyAssignment(n.parent)
            ? this.checker.getShorthandAssignmentValueSymbol(n.parent)
            : this.checker.getSymbolAtLocation(n);
          if (s === symbol) out.push(n);
        }
        return;
      }
      ts.forEachChild(n, visit);
    };
    visit(scope);
    return out;
  }

  private isAssigned(ref: ts.Node): boolean {
    let child: ts.Node = ref;
    let p = ref.parent;
    while (ts.isParenthesizedExpression(p) || ts.isNonNullExpression(p) || ts.isAsExpression(p)) {
      child = p;
      p = p.parent;
    }
    if (ts.isBinaryExpression(p))
      return (
        p.left === child &&
        p.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        p.operatorToken.kind <= ts.SyntaxKind.LastAssignment
      );
    if (ts.isPrefixUnaryExpression(p) || ts.isPostfixUnaryExpression(p))
      return p.operator === ts.SyntaxKind.PlusPlusToken || p.operator === ts.SyntaxKind.MinusMinusToken;
    // A destructuring assignment target, a `for (x of …)` target.
    return (
      ts.isShorthandPropertyAssignment(p) ||
      ts.isArrayLiteralExpression(p) ||
      ((ts.isForOfStatement(p) || ts.isForInStatement(p)) && p.initializer === child)
    );
  }

  /**
   * An allocation site told apart from the others: `new C(…)` of an application class whose
   * constructors (each class of its chain declares one) keep `this` to themselves, used directly or
   * through one local variable it initialises, only through its fields, accessors and calls whose
   * `this` or parameter keep it too. Anything else (returned, stored, passed to a library or a
   * function value, compared) lets it escape: its fields are then the class's fields.
   */
  private isTracked(site: ts.NewExpression): boolean {
    const known = this.tracked.get(site);
    if (known !== undefined) return known;
    this.tracked.set(site, false);
    const ok = this.trackable(site);
    this.tracked.set(site, ok);
    return ok;
  }

  private trackable(site: ts.NewExpression): boolean {
    const container = this.enclosingFunction(site);
    if (ts.isSourceFile(container)) return false;
    const decl = this.resolveSymbol(site.expression)?.valueDeclaration;
    if (decl === undefined || !ts.isClassLike(decl) || !this.isAppNode(decl)) return false;
    const callee = this.callee(site)[0];
    if (callee === undefined || !ts.isConstructorDeclaration(callee) || !this.fnIds.has(callee)) return false;
    for (let cls: ts.ClassLikeDeclaration | undefined = decl; cls !== undefined;) {
      const ctor = cls.members.find((m) => ts.isConstructorDeclaration(m) && m.body !== undefined);
      if (ctor === undefined || this.thisEscapes(ctor as FunctionLike)) return false;
      // Instance property initialisers run on the new object too.
      if (
        cls.members.some(
          (m) =>
            ts.isPropertyDeclaration(m) && m.initializer !== undefined && this.mentionsThis(m.initializer),
        )
      )
        return false;
      const ext: ts.ExpressionWithTypeArguments | undefined = cls.heritageClauses?.find(
        (h) => h.token === ts.SyntaxKind.ExtendsKeyword,
      )?.types[0];
      if (ext === undefined) break;
      const base: ts.Declaration | undefined = this.resolveSymbol(ext.expression)?.valueDeclaration;
      if (base === undefined || !ts.isClassLike(base) || !this.isAppNode(base)) return false;
      cls = base;
    }
    let child: ts.Node = site;
    let p = site.parent;
    while (ts.isParenthesizedExpression(p) || ts.isAsExpression(p) || ts.isNonNullExpression(p)) {
      child = p;
      p = p.parent;
    }
    if (ts.isVariableDeclaration(p) && p.initializer === child) {
      if (!ts.isIdentifier(p.name)) return false;
      return this.references(p, container).every((ref) => !this.isAssigned(ref) && this.keepsObject(ref));
    }
    return this.keepsObject(site);
  }

  private mentionsThis(node: ts.Node): boolean {
    if (node.kind === ts.SyntaxKind.ThisKeyword) return true;
    if (isFunctionLike(node) && !ts.isArrowFunction(node)) return false;
    return ts.forEachChild(node, (c) => this.mentionsThis(c)) === true;
  }

  /** Whether this use of an object keeps it from escaping (see `isTracked`). */
  private keepsObject(use: ts.Node): boolean {
    let child: ts.Node = use;
    let p = use.parent;
    while (ts.isParenthesizedExpression(p) || ts.isAsExpression(p) || ts.isNonNullExpression(p)) {
      child = p;
      p = p.parent;
    }
    const appTargets = (call: ts.CallExpression | ts.NewExpression): FunctionLike[] | undefined => {
      const found = this.callee(call);
      if (
        found.length === 0 ||
        !found.every((d) => isFunctionLike(d) && d.body !== undefined && this.fnIds.has(d))
      )
        return undefined;
      return found as FunctionLike[];
    };
    if (ts.isPropertyAccessExpression(p) && p.expression === child) {
      const call = p.parent;
      if (ts.isCallExpression(call) && call.expression === p) {
        const targets = appTargets(call);
        return targets !== undefined && targets.every((t) => !this.thisEscapes(t));
      }
      const decls = this.checker.getSymbolAtLocation(p.name)?.declarations ?? [];
      return (
        decls.length > 0 &&
        decls.every(
          (d) =>
            this.splitField(d) ||
            ((ts.isGetAccessorDeclaration(d) || ts.isSetAccessorDeclaration(d)) &&
              this.fnIds.has(d) &&
              !this.thisEscapes(d)),
        )
      );
    }
    if (ts.isCallExpression(p) && p.expression === child && child.kind === ts.SyntaxKind.SuperKeyword) {
      const targets = appTargets(p);
      return targets !== undefined && targets.every((t) => !this.thisEscapes(t));
    }
    if ((ts.isCallExpression(p) || ts.isNewExpression(p)) && p.arguments?.includes(child as ts.Expression)) {
      const i = p.arguments.indexOf(child as ts.Expression);
      const targets = appTargets(p);
      return (
        targets !== undefined &&
        targets.every((t) => {
          const param = t.parameters[i];
          return param !== undefined && this.isRootParam(param) && !this.paramEscapes(param);
        })
      );
    }
    return false;
  }

  /** Whether a method lets its `this` escape (coinductive: a cycle of calls that keep it keeps it). */
  private thisEscapes(fn: FunctionLike): boolean {
    const known = this.thisEscape.get(fn);
    if (known !== undefined) return known;
    this.thisEscape.set(fn, false);
    let escapes = fn.body === undefined;
    const visit = (n: ts.Node): void => {
      if (escapes) return;
      if (
        (n.kind === ts.SyntaxKind.ThisKeyword || n.kind === ts.SyntaxKind.SuperKeyword) &&
        this.thisOwner(n) === fn
      ) {
        if (!this.keepsObject(n)) escapes = true;
        return;
      }
      if ((isFunctionLike(n) && !ts.isArrowFunction(n)) || ts.isClassLike(n)) return;
      ts.forEachChild(n, visit);
    };
    if (fn.body !== undefined) ts.forEachChild(fn.body, visit);
    this.thisEscape.set(fn, escapes);
    return escapes;
  }

  private paramEscapes(param: ts.ParameterDeclaration): boolean {
    const known = this.paramEscape.get(param);
    if (known !== undefined) return known;
    this.paramEscape.set(param, false);
    const fn = param.parent as FunctionLike;
    const escapes =
      fn.body === undefined || !this.references(param, fn.body).every((ref) => this.keepsObject(ref));
    this.paramEscape.set(param, escapes);
    return escapes;
  }

  /**
   * Whether a function may be called other than by the calls the analysis resolved: through a
   * value (callback, interface), or by the application's user — anything but a private or
   * protected member.
   */
  private calledFromOutside(fn: string, decl: ts.Node | undefined): boolean {
    if (this.escaped.has(`${fn}#value`) || decl === undefined) return true;
    if (!ts.isClassElement(decl)) return true;
    if (decl.name !== undefined && ts.isPrivateIdentifier(decl.name)) return false;
    return (
      (ts.getCombinedModifierFlags(decl as ts.Declaration) &
        (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) ===
      0
    );
  }

  /** A read of a getter or a write through a setter: a call, with its own site. */
  private accessorCall(
    node: ts.PropertyAccessExpression | ts.ElementAccessExpression,
    decl: ts.GetAccessorDeclaration | ts.SetAccessorDeclaration,
    write: boolean,
    ctx: Context,
  ): string {
    const id = this.fnIds.get(decl) ?? '';
    const fn = this.graph.functions.get(id);
    const nested = fn?.parent !== undefined;
    const site = `${this.rel(node)}:${this.lineOf(node)}:${node.getStart()}${write ? '#set' : '#get'}`;
    const base = {
      file: this.rel(node),
      line: this.lineOf(node),
      owner: ctx.fn,
      functionTyped: false,
    };
    const result = `${site}#result`;
    this.graph.addNode({
      ...base,
      id: result,
      kind: 'var',
      label: `${node.getText().slice(0, 40)} (${write ? 'set' : 'get'})`,
    });
    const args = new Map<string, string>();
    let out = result;
    const param = decl.parameters[0];
    if (write && param !== undefined) {
      const pid = this.paramId(id, param, 0);
      out = `${site}>${pid}`;
      this.graph.addNode({ ...base, id: out, kind: 'var', label: `value set to ${fn?.name}` });
      args.set(pid, out);
      this.graph.addEdge({
        from: out,
        to: pid,
        site: ctx.fn,
        ...base,
        why: `value set to ${fn?.name}`,
        kind: nested ? undefined : 'call',
      });
    } else
      this.graph.addEdge({
        from: `${id}#return`,
        to: result,
        site: ctx.fn,
        ...base,
        why: `value of ${fn?.name}`,
        kind: nested ? undefined : 'return',
      });
    const nodes: CallSiteNodes = { site, caller: ctx.fn, callee: id, args, result };
    this.graph.sites.push(nodes);
    this.objectCalls.push({
      nodes,
      target: decl,
      receiver: node.expression,
      args: [],
      ctx,
      at: node,
      nested,
      linked: new Set(),
    });
    return out;
  }

  /**
   * Joins the fields of the objects each function received to the caller's objects, at each call
   * site (call and return edges the slices match), to a fixpoint: a caller passing on an object it
   * received itself gets that field as its own input and output. Callers outside the application
   * (the host, function values, library callbacks) pass objects of any allocation: the class's
   * field, through a site of their own.
   */
  private linkObjectFields(): void {
    for (let changed = true; changed;) {
      changed = false;
      const before = this.received.size;
      for (const call of this.objectCalls) {
        const callee = call.nodes.callee;
        for (const id of this.graph.objectFields.get(callee) ?? []) {
          if (call.linked.has(id)) continue;
          call.linked.add(id);
          const info = this.received.get(id);
          if (info === undefined) continue;
          let actual: ts.Expression | undefined;
          if (info.root === 'this') actual = call.receiver;
          else {
            const i = call.target.parameters.findIndex(
              (p) => ts.isIdentifier(p.name) && p.name.text === info.root,
            );
            actual = i < 0 ? undefined : call.args[i];
            if (actual === undefined) continue; // not passed: undefined, no fields
          }
          const locs = actual === undefined ? info.field : this.objectField(actual, info.name, info.field);
          const edge = { site: call.ctx.fn, file: this.rel(call.at), line: this.lineOf(call.at) };
          const into = `${call.nodes.site}>${id}`;
          const back = `${call.nodes.site}<${id}`;
          for (const n of [into, back])
            this.graph.addNode({
              id: n,
              kind: 'var',
              label: `${info.root}.${info.name} at a call of ${this.graph.functions.get(callee)?.name}`,
              file: edge.file,
              line: edge.line,
              owner: call.ctx.fn,
              functionTyped: false,
              mayHoldFunction: this.graph.nodes.get(id)?.mayHoldFunction,
            });
          const why = `${info.root}.${info.name} of ${this.graph.functions.get(callee)?.name}`;
          this.graph.addEdge({ ...edge, from: locs, to: into, why }, true);
          this.graph.addEdge(
            { ...edge, from: into, to: id, why, kind: call.nested ? undefined : 'call' },
            true,
          );
          this.graph.addEdge(
            { ...edge, from: id, to: back, why, kind: call.nested ? undefined : 'return' },
            true,
          );
          this.graph.addEdge({ ...edge, from: back, to: locs, why }, true);
          call.nodes.args.set(id, into);
          (call.nodes.outs ??= new Map()).set(id, back);
        }
      }
      if (this.received.size !== before) changed = true;
    }
    const decls = new Map<string, ts.Node>();
    for (const [node, id] of this.fnIds) decls.set(id, node);
    for (const [fn, ids] of this.graph.objectFields) {
      if (!this.calledFromOutside(fn, decls.get(fn))) continue;
      const site = `outside:${fn}`;
      const nodes: CallSiteNodes = { site, caller: '', callee: fn, args: new Map(), outs: new Map() };
      const info = this.graph.functions.get(fn);
      const nested = info?.parent !== undefined;
      for (const id of ids) {
        const field = this.received.get(id)?.field ?? '';
        const edge = {
          site,
          file: info?.file ?? '',
          line: info?.line ?? 0,
          why: 'a received object of any allocation',
        };
        this.graph.addEdge({ ...edge, from: field, to: id, kind: nested ? undefined : 'call' }, true);
        this.graph.addEdge({ ...edge, from: id, to: field, kind: nested ? undefined : 'return' }, true);
        nodes.args.set(id, field);
        nodes.outs?.set(id, field);
      }
      this.graph.sites.push(nodes);
    }
  }

  // ---- calls ---------------------------------------------------------------------------------

  private callee(node: ts.CallExpression | ts.NewExpression): ts.Node[] {
    const sig = this.checker.getResolvedSignature(node);
    let decl: ts.Node | undefined = sig?.getDeclaration();
    if (decl === undefined) return [];
    // An overload signature: the call runs the implementation (the declaration with a body).
    if (isFunctionLike(decl) && decl.body === undefined && decl.name !== undefined) {
      const impl = this.checker
        .getSymbolAtLocation(decl.name)
        ?.declarations?.find((d) => isFunctionLike(d) && d.body !== undefined);
      if (impl !== undefined) decl = impl;
    }
    const out: ts.Node[] = [decl];
    for (const o of this.overrides.get(decl) ?? []) out.push(o);
    return out;
  }

  private call(node: ts.CallExpression | ts.NewExpression, ctx: Context): Set<string> {
    const args = (node.arguments ?? []).map((a) => this.expr(a, ctx));
    const calleeExpr = node.expression;
    if (ts.isIdentifier(calleeExpr) && ts.isCallExpression(node)) {
      const special = this.specialCall(node, calleeExpr.text, args, ctx);
      if (special !== undefined) return special;
    }
    if (ts.isNewExpression(node) && ts.isIdentifier(calleeExpr) && calleeExpr.text === 'Function') {
      this.loss(
        node,
        'eval',
        '`new Function(…)`: code unknown to the analysis; result merged with its arguments',
      );
      return this.union(args);
    }
    // The receiver of a method call (read) and the callee expression's own nodes.
    let receiver = new Set<string>();
    if (ts.isPropertyAccessExpression(calleeExpr) || ts.isElementAccessExpression(calleeExpr))
      receiver = this.expr(calleeExpr.expression, ctx);
    const targets = this.callee(node).filter((d) => isFunctionLike(d) && this.fnIds.has(d));
    if (targets.length > 0) {
      // Per call site: argument nodes and a result node in the caller, joined to the callee by call
      // and return edges the slices match (a utility's return is sensitive only where its argument is).
      const site = `${this.rel(node)}:${this.lineOf(node)}:${node.getStart()}`;
      const resultId = `${site}#result`;
      this.graph.addNode({
        id: resultId,
        kind: 'var',
        label: `${calleeExpr.getText().slice(0, 40)}(…) result`,
        file: this.rel(node),
        line: this.lineOf(node),
        owner: ctx.fn,
        functionTyped: false,
        mayHoldFunction: this.mayHoldFunction(this.checker.getTypeAtLocation(node)),
      });
      for (const target of targets as FunctionLike[]) {
        const id = this.fnIds.get(target) ?? '';
        const name = this.graph.functions.get(id)?.name;
        // A closure is called within the frame it shares: its call and return are plain flow there.
        const nested = this.graph.functions.get(id)?.parent !== undefined;
        this.graph.calls.push({
          caller: ctx.fn,
          callee: id,
          file: this.rel(node),
          line: this.lineOf(node),
          async: this.graph.functions.get(id)?.async === true || ts.isAwaitExpression(node.parent),
        });
        const siteArgs = new Map<string, string>();
        target.parameters.forEach((p, i) => {
          const pid = this.paramId(id, p, i);
          const passed = p.dotDotDotToken !== undefined ? this.union(args.slice(i)) : args[i];
          const at = node.arguments?.[i] ?? node;
          const argId = `${site}>${pid}`;
          this.graph.addNode({
            id: argId,
            kind: 'var',
            label: `argument ${i + 1} of ${name}`,
            file: this.rel(at),
            line: this.lineOf(at),
            owner: ctx.fn,
            functionTyped: this.graph.nodes.get(pid)?.functionTyped === true,
            mayHoldFunction: this.graph.nodes.get(pid)?.mayHoldFunction,
          });
          siteArgs.set(pid, argId);
          if (passed !== undefined) this.flow(passed, argId, ctx, at, `argument ${i + 1} of ${name}`);
          this.touch(ctx, [argId]);
          this.graph.addEdge({
            from: argId,
            to: pid,
            site: ctx.fn,
            file: this.rel(at),
            line: this.lineOf(at),
            why: `argument ${i + 1} of ${name}`,
            kind: nested ? undefined : 'call',
          });
          const arg = node.arguments?.[i];
          if (arg !== undefined) this.linkStructural(arg, p, ctx);
        });
        this.graph.addEdge({
          from: `${id}#return`,
          to: resultId,
          site: ctx.fn,
          file: this.rel(node),
          line: this.lineOf(node),
          why: `return of ${name}`,
          kind: nested ? undefined : 'return',
        });
        const nodes: CallSiteNodes = { site, caller: ctx.fn, callee: id, args: siteArgs, result: resultId };
        this.graph.sites.push(nodes);
        this.objectCalls.push({
          nodes,
          target,
          receiver: ts.isNewExpression(node)
            ? node
            : ts.isPropertyAccessExpression(calleeExpr) || ts.isElementAccessExpression(calleeExpr)
              ? calleeExpr.expression
              : calleeExpr.kind === ts.SyntaxKind.SuperKeyword
                ? calleeExpr
                : undefined,
          args: node.arguments ?? [],
          ctx,
          at: node,
          nested,
          linked: new Set(),
        });
      }
      this.touch(
        ctx,
        [...targets].map((t) => `${this.fnIds.get(t)}#value`),
      );
      return new Set([resultId]);
    }
    const decl = this.callee(node)[0];
    const calleeType = this.checker.getTypeAtLocation(calleeExpr);
    const external =
      decl === undefined
        ? this.isAny(calleeType) === false &&
          calleeType.getCallSignatures().length + calleeType.getConstructSignatures().length > 0
        : !this.isAppNode(decl);
    if (external && (decl === undefined || !this.isAppNode(decl))) {
      if (decl === undefined && !ts.isIdentifier(calleeExpr) && !ts.isPropertyAccessExpression(calleeExpr)) {
        this.loss(
          node,
          'callback',
          `\`${calleeExpr.getText().slice(0, 60)}(…)\`: callee not resolved; merged with its arguments`,
        );
      }
      // A library-typed function held in an application variable (a promise's `resolve`
      // parameter) may keep what it is given: the arguments flow into the variable.
      if (ts.isIdentifier(calleeExpr))
        for (const slot of this.expr(calleeExpr, ctx))
          for (const a of args) this.flow(a, slot, ctx, node, 'argument to a library function value');
      return this.externalCall(node, receiver, args, ctx);
    }
    // Through a function value (callback, `any`, an interface method): merged with the value.
    const slot = this.expr(calleeExpr, ctx);
    const abstract =
      decl !== undefined &&
      (ts.isMethodSignature(decl) || (ts.isMethodDeclaration(decl) && decl.body === undefined));
    const reason: PrecisionLoss['reason'] = this.isAny(calleeType)
      ? 'any'
      : abstract
        ? 'abstract-call'
        : 'callback';
    this.loss(
      node,
      reason,
      `\`${calleeExpr.getText().slice(0, 60)}(…)\`: ${reason === 'any' ? 'callee of type any' : 'call through a function value'}; arguments and result merged with it`,
    );
    // Which application functions the value can hold is known at the end (see linkSlotCalls).
    const result = `${this.rel(node)}:${this.lineOf(node)}:${node.getStart()}#call`;
    this.graph.addNode({
      id: result,
      kind: 'var',
      label: `${calleeExpr.getText().slice(0, 40)}(…) result`,
      file: this.rel(node),
      line: this.lineOf(node),
      owner: ctx.fn,
      functionTyped: false,
    });
    this.slotCalls.push({ slot: [...slot], receiver: [...receiver], args, ctx, node, result });
    this.graph.calls.push({
      caller: ctx.fn,
      callee: `external:${calleeExpr.getText().replace(/\s+/g, '').slice(0, 80)}`,
      file: this.rel(node),
      line: this.lineOf(node),
      async: ts.isAwaitExpression(node.parent),
      args: args.map((a) => [...a]),
      start: node.getStart(),
    });
    return this.union([new Set([result]), ...(this.isAny(calleeType) ? args : [])]);
  }

  /**
   * A library function: its result derives from the receiver and arguments; arguments may be
   * stored into the receiver (`map.set(k, v)`); function arguments receive all of these (callbacks).
   */
  private externalCall(
    node: ts.CallExpression | ts.NewExpression,
    receiver: Set<string>,
    args: Set<string>[],
    ctx: Context,
  ): Set<string> {
    const all = this.union([receiver, ...args]);
    // What a library call returns may carry what its callbacks return: a function written at the
    // call (`new Promise((resolve) => …)`) contributes its return, not its identity (which would
    // make every promise look like it holds every executor when calls through values are resolved).
    const carried = (node.arguments ?? []).map((a, i) => {
      const id = isFunctionLike(a) ? this.fnIds.get(a) : undefined;
      return id === undefined ? args[i] : new Set([`${id}#return`]);
    });
    if (this.mayStore(node)) {
      for (const r of receiver) {
        for (const a of args) this.flow(a, r, ctx, node, 'argument stored into a library object');
      }
    }
    let result = this.union([receiver, ...carried]);
    const functionArgs = (node.arguments ?? []).filter((a) => isFunctionLike(a) || this.isFunctionType(a));
    for (const arg of functionArgs) {
      for (const id of this.expr(arg, ctx))
        this.flow(all, id, ctx, arg, 'library call passes data to a callback');
    }
    // `p.then(f)` settles with what f returns (f gets p's value): not with p itself.
    const callee = node.expression;
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(callee) &&
      callee.name.text === 'then' &&
      functionArgs.length === node.arguments.length &&
      functionArgs.length > 0 &&
      this.checker.getTypeAtLocation(callee.expression).getSymbol()?.getName() === 'Promise'
    )
      result = this.union(carried);
    return result;
  }

  /**
   * Whether a library method may keep its arguments in its receiver: a mutator by name (`push`,
   * `set`, `update`, `write…`), one that returns nothing, or one that returns its receiver
   * (`map.set`, `hash.update`). A method returning something else (`decoder.decode(bytes)`,
   * `arr.join()`) hands its result back and leaves its receiver as it was.
   */
  private mayStore(node: ts.CallExpression | ts.NewExpression): boolean {
    const callee = node.expression;
    if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(callee)) return false;
    // A string, number or other primitive is immutable: its methods keep nothing (`alphabet.charAt(i)`).
    const primitive =
      ts.TypeFlags.StringLike |
      ts.TypeFlags.NumberLike |
      ts.TypeFlags.BooleanLike |
      ts.TypeFlags.BigIntLike |
      ts.TypeFlags.ESSymbolLike;
    const receiverFlags = this.checker.getTypeAtLocation(callee.expression).flags;
    if ((receiverFlags & primitive) !== 0 && (receiverFlags & ~primitive) === 0) return false;
    if (this.isCopyingBuiltin(callee)) return false;
    if (
      /^(push|unshift|splice|set|add|fill|copyWithin|update|put|enqueue|insert|write|append|prepend|assign)/.test(
        callee.name.text,
      )
    )
      return true;
    const result = this.checker.getTypeAtLocation(node);
    if (
      (result.flags &
        (ts.TypeFlags.Void | ts.TypeFlags.Undefined | ts.TypeFlags.Any | ts.TypeFlags.Unknown)) !==
      0
    )
      return true;
    const receiverType = this.checker.getTypeAtLocation(callee.expression);
    return result === receiverType || result.getSymbol() === receiverType.getSymbol();
  }

  /**
   * A method of JavaScript's own arrays, typed arrays and buffers that returns a new object and
   * leaves its receiver as it was (`buffer.slice(pos, pos + size)`), though its result has the
   * receiver's type: its arguments are not kept in the receiver. Only declarations of TypeScript's
   * default library count (a `slice` of the application's or a package's own may mutate). Before,
   * `stm.readBytes(hmac.byteLength)` made the stream's buffer derive from the HMAC's length, and so
   * every stream sensitive.
   */
  private isCopyingBuiltin(callee: ts.PropertyAccessExpression): boolean {
    if (!COPYING_BUILTIN_METHODS.has(callee.name.text)) return false;
    const decls = this.checker.getSymbolAtLocation(callee.name)?.declarations ?? [];
    return (
      decls.length > 0 &&
      decls.every((d) => {
        const file = d.getSourceFile();
        const owner = d.parent;
        return (
          this.app.program.isSourceFileDefaultLibrary(file) &&
          ts.isInterfaceDeclaration(owner) &&
          COPYING_BUILTIN_OWNER.test(owner.name.text)
        );
      })
    );
  }

  private specialCall(
    node: ts.CallExpression,
    name: string,
    args: Set<string>[],
    _ctx: Context,
  ): Set<string> | undefined {
    const symbol = this.resolveSymbol(node.expression);
    const decl = symbol?.declarations?.[0];
    if (decl !== undefined && this.isAppNode(decl)) return undefined;
    if (name === 'eval') {
      this.loss(node, 'eval', '`eval(…)`: code unknown to the analysis; result merged with its arguments');
      return this.union(args);
    }
    if (name === 'require') {
      const arg = node.arguments[0];
      if (arg === undefined || !ts.isStringLiteral(arg)) {
        this.loss(node, 'dynamic-require', '`require(expr)`: module unknown to the analysis');
        return this.union(args);
      }
      return new Set();
    }
    return undefined;
  }
}
