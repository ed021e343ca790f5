/**
 * Builds the dependence graph from the type-checked program: def-use of variables, parameters and
 * returns, abstract fields (one node per declaring type and field name), and call edges resolved by
 * the checker. Where types do not say enough (`any`, `o[k]`, calls through function values,
 * `eval`/`Function`/`require(expr)`), the flow is merged conservatively and the place is recorded.
 */
import { ts } from 'ts-morph';
import type { LoadedApp } from './project.ts';
import { DependenceGraph, type FunctionInfo, type PrecisionLoss } from './graph.ts';
import { reachingSeeds, type SeedReach } from './reach.ts';

/** Node modules the enclave does not have: a function using them stays on the host. */
const HOST_IO =
  /^(node:)?(fs|fs\/promises|net|dgram|child_process|http|https|http2|tls|dns|cluster|readline|inspector|worker_threads)$/;

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

  constructor(app: LoadedApp) {
    this.app = app;
    this.checker = app.checker;
    this.appFiles = new Set(app.files);
  }

  build(): DependenceGraph {
    for (const file of this.app.files) this.registerFunctions(file);
    for (const file of this.app.files) this.collectOverrides(file);
    for (const file of this.app.files) this.visitFile(file);
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
    const nested = this.graph.functions.get(fn)?.parent !== undefined;
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
   * field on (as the checker types `this`): `ByteStringBuffer.data`, as for a class declaration, so
   * the runtime knows which fields of an instance stay in the enclave.
   */
  private es5ClassOf(decl: ts.Node): string | undefined {
    const access = ts.isBinaryExpression(decl) ? decl.left : decl;
    if (!ts.isPropertyAccessExpression(access) || access.expression.kind !== ts.SyntaxKind.ThisKeyword)
      return undefined;
    const symbol = this.checker.getTypeAtLocation(access.expression).getSymbol();
    const fn = symbol?.valueDeclaration;
    return fn !== undefined &&
      ts.isFunctionDeclaration(fn) &&
      fn.name !== undefined &&
      ts.isSourceFile(fn.parent)
      ? fn.name.text
      : undefined;
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
      (n) => n.kind === 'field' && !n.id.startsWith('field:any.') && !n.id.startsWith('field:lib:'),
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
          const ctor = node.members.find(ts.isConstructorDeclaration);
          const site = ctor !== undefined ? { ...ctx, fn: this.fnIds.get(ctor) ?? ctx.fn } : ctx;
          this.flow(this.expr(member.initializer, site), field, site, member, 'field initializer');
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
      // An accessor runs: a read is its getter's return, a write goes to its setter's parameter.
      if (ts.isGetAccessorDeclaration(decl) || ts.isSetAccessorDeclaration(decl)) {
        const id = this.fnIds.get(decl);
        if (id === undefined || ts.isGetAccessorDeclaration(decl) === write) continue;
        const param = decl.parameters[0];
        out.add(write && param !== undefined ? this.paramId(id, param, 0) : `${id}#return`);
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
    return this.propertyNodes(node, node.name.text, receiver);
  }

  private elementRead(node: ts.ElementAccessExpression, ctx: Context): Set<string> {
    const receiver = this.expr(node.expression, ctx);
    const key = this.expr(node.argumentExpression, ctx);
    const arg = node.argumentExpression;
    if (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg))
      return this.propertyNodes(node, arg.text, receiver);
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
      const fields = this.propertyNodes(target, target.name.text, new Set(), true);
      if (fields.size === 0) for (const r of receiver) this.flow(list, r, ctx, at, 'write into object');
      for (const f of fields) this.flow(list, f, ctx, at, 'field write');
      return;
    }
    if (ts.isElementAccessExpression(target)) {
      const receiver = this.expr(target.expression, ctx);
      this.expr(target.argumentExpression, ctx);
      const arg = target.argumentExpression;
      if (ts.isStringLiteral(arg)) {
        for (const f of this.propertyNodes(target, arg.text, new Set(), true))
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
        this.graph.sites.push({ site, caller: ctx.fn, callee: id, args: siteArgs, result: resultId });
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
