/**
 * Code generation from the plan: two copies of the application. The host copy keeps host code and
 * turns every enclave entry into a stub that calls `EnclaveChannel`; the enclave copy keeps
 * enclave code, turns host functions it calls into exits, and registers its entries with the
 * generated dispatcher, whose checks (allow-list, argument schemas, call order) and sealing come
 * from the interface file.
 */
import { cpSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../host/package-files.ts';
import { PartitionError } from './errors.ts';
import { ts } from 'ts-morph';
import type { Analysis } from './analyze.ts';
import { isFunctionLike } from './build-graph.ts';
import type { InterfaceFile } from './interface-file.ts';
import type { PartitionPlan } from './plan.ts';
import { ENCLAVE_MAIN, ENCLAVE_RUNTIME, HOST_RUNTIME, HOST_START } from './runtime-source.ts';
import { es5ClassOf, es5ClassOfThis, isNamePath } from './es5-classes.ts';
import { sealedExitEdits, type Edit } from './seal-exits.ts';

export interface Generated {
  /** Enclave functions nested in host functions: the generator leaves them (reported, not moved). */
  unsupported: { function: string; reason: string }[];
}

function applyEdits(text: string, edits: Edit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.start - a.start))
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/** The expression that names a function for registration in the enclave, if it has one. */
function reference(node: ts.Node): string | undefined {
  if (ts.isFunctionDeclaration(node) && node.name !== undefined && ts.isSourceFile(node.parent))
    return node.name.text;
  const cls = node.parent;
  if (
    (ts.isMethodDeclaration(node) ||
      ts.isGetAccessorDeclaration(node) ||
      ts.isSetAccessorDeclaration(node)) &&
    ts.isClassDeclaration(cls) &&
    cls.name !== undefined &&
    ts.isSourceFile(cls.parent)
  ) {
    const isStatic = (ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Static) !== 0;
    if (!ts.isIdentifier(node.name)) return undefined;
    // An accessor registers its getter or setter function (its body becomes a stub on the host).
    if (ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)) {
      const owner = isStatic ? cls.name.text : `${cls.name.text}.prototype`;
      const part = ts.isGetAccessorDeclaration(node) ? 'get' : 'set';
      return `Object.getOwnPropertyDescriptor(${owner}, ${JSON.stringify(node.name.text)}).${part}, ${isStatic ? 'undefined' : `${cls.name.text}.prototype`}`;
    }
    return isStatic
      ? `${cls.name.text}.${node.name.text}`
      : `${cls.name.text}.prototype.${node.name.text}, ${cls.name.text}.prototype`;
  }
  if (
    ts.isConstructorDeclaration(node) &&
    ts.isClassDeclaration(cls) &&
    cls.name !== undefined &&
    ts.isSourceFile(cls.parent)
  )
    return cls.name.text;
  if (
    (ts.isFunctionExpression(node) || ts.isArrowFunction(node)) &&
    ts.isVariableDeclaration(node.parent) &&
    ts.isIdentifier(node.parent.name) &&
    ts.isVariableStatement(node.parent.parent.parent) &&
    ts.isSourceFile(node.parent.parent.parent.parent)
  ) {
    return node.parent.name.text;
  }
  if (ts.isFunctionExpression(node) || ts.isArrowFunction(node)) return namespacePath(node);
  return undefined;
}

/**
 * The file's top-level classes by name and the expression that holds each: class declarations, and
 * ES5 classes — a constructor function whose prototype a top-level statement extends
 * (`BigInteger.prototype.add = bnAdd`), declared (`function ByteStringBuffer(…)`) or assigned at
 * the top level (`var BlockCipher = forge.cipher.BlockCipher = function …`, `modes.ecb = function
 * …`), named by its last segment.
 */
function classNames(file: ts.SourceFile): { name: string; expr: string }[] {
  const out = file.statements
    .filter((st): st is ts.ClassDeclaration => ts.isClassDeclaration(st) && st.name !== undefined)
    .map((c) => ({ name: c.name?.text ?? '', expr: c.name?.text ?? '' }));
  const visit = (node: ts.Node): void => {
    const cls = es5ClassOf(node);
    if (cls !== undefined && !out.some((c) => c.expr === cls.expr)) out.push(cls);
  };
  for (const st of file.statements) {
    if (ts.isFunctionDeclaration(st)) visit(st);
    if (ts.isVariableStatement(st))
      for (const d of st.declarationList.declarations) {
        let init = d.initializer;
        while (init !== undefined && (ts.isBinaryExpression(init) || ts.isParenthesizedExpression(init)))
          init = ts.isBinaryExpression(init) ? init.right : init.expression;
        if (init !== undefined) visit(init);
      }
    if (ts.isExpressionStatement(st)) {
      let e: ts.Expression = st.expression;
      while (
        (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.EqualsToken) ||
        ts.isParenthesizedExpression(e)
      )
        e = ts.isBinaryExpression(e) ? e.right : e.expression;
      visit(e);
    }
  }
  return out;
}

/** A top-level function that is an ES5 class's constructor. */
function es5Class(node: ts.Node): boolean {
  return es5ClassOf(node) !== undefined;
}

/**
 * A function assigned to a property path in a module's top-level statement
 * (`pki.rsa.setPrivateKey = function …`, `Buffer.prototype.get = function …`, also in an assignment
 * chain): the path names it once the module has loaded.
 */
function namespacePath(node: ts.FunctionExpression | ts.ArrowFunction): string | undefined {
  const assignment = node.parent;
  if (
    !ts.isBinaryExpression(assignment) ||
    assignment.operatorToken.kind !== ts.SyntaxKind.EqualsToken ||
    assignment.right !== node ||
    !ts.isPropertyAccessExpression(assignment.left) ||
    !isNamePath(assignment.left)
  )
    return undefined;
  let top: ts.Node = assignment;
  while (
    ts.isParenthesizedExpression(top.parent) ||
    (ts.isBinaryExpression(top.parent) &&
      top.parent.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
      top.parent.right === top)
  )
    top = top.parent;
  const statement = top.parent;
  const topLevel =
    (ts.isExpressionStatement(statement) && ts.isSourceFile(statement.parent)) ||
    // `var X = ns.X = function …`
    (ts.isVariableDeclaration(statement) &&
      ts.isVariableStatement(statement.parent.parent) &&
      ts.isSourceFile(statement.parent.parent.parent));
  return topLevel ? assignment.left.getText() : undefined;
}

function bodyRange(node: ts.Node & { body?: ts.Node }): { start: number; end: number } | undefined {
  const body = node.body;
  if (body === undefined || !ts.isBlock(body)) return undefined;
  return { start: body.getStart(), end: body.getEnd() };
}

const stub = (side: 'enter' | 'exit', name: string, isCtor: boolean): string =>
  isCtor
    ? `{ globalThis.__cloister.${side}Constructor(${JSON.stringify(name)}, this, arguments); }`
    : `{ return globalThis.__cloister.${side}(${JSON.stringify(name)}, this, arguments); }`;

/**
 * An instance method of a top-level class: in the enclave copy it runs on the host's object that
 * `this` is a copy or mirror of (an instance of a host class the enclave got as data).
 */
function hostMethod(node: ts.Node): string | undefined {
  if (!ts.isMethodDeclaration(node) || !ts.isIdentifier(node.name)) return undefined;
  if ((ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Static) !== 0) return undefined;
  const cls = node.parent;
  return ts.isClassDeclaration(cls) && cls.name !== undefined && ts.isSourceFile(cls.parent)
    ? node.name.text
    : undefined;
}

/** An instance accessor of a top-level class. */
function hostAccessor(node: ts.Node): boolean {
  if (!ts.isGetAccessorDeclaration(node) && !ts.isSetAccessorDeclaration(node)) return false;
  if ((ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Static) !== 0) return false;
  return ts.isClassDeclaration(node.parent) && ts.isSourceFile(node.parent.parent);
}

const guard = (id: string): string =>
  `{ throw new Error(${JSON.stringify(`cloister: ${id} runs only on the other side of the partition`)}); }`;

/**
 * A rewritten TypeScript file opts out of type checking (a suite run through ts-node checks it):
 * stubs have no types of their own and a stubbed constructor leaves fields unassigned. The entry
 * checks hold the types at run time.
 */
function noCheck(rel: string, written: string, original: string): string {
  if (written === original || !/\.[cm]?tsx?$/.test(rel) || rel.endsWith('.d.ts')) return written;
  return `// @ts-nocheck generated by cloister partition\n${written}`;
}

/**
 * Functions module top-level code calls while the module loads (an IIFE that sets up a namespace,
 * an `_init()`), and what they call in turn: top-level code runs on both sides, so the enclave copy
 * keeps their bodies even when they are host functions (a guard there would stop the enclave's load).
 */
function runAtLoad(analysis: Analysis): Set<string> {
  const { graph } = analysis;
  const callees = new Map<string, string[]>();
  for (const call of graph.calls) {
    if (!graph.functions.has(call.callee)) continue;
    let list = callees.get(call.caller);
    if (list === undefined) callees.set(call.caller, (list = []));
    list.push(call.callee);
  }
  const queue = [...graph.functions.values()].filter((f) => f.kind === 'module').map((f) => f.id);
  const found = new Set<string>(queue);
  for (let i = 0; i < queue.length; i++) {
    for (const callee of callees.get(queue[i]) ?? []) {
      if (found.has(callee)) continue;
      found.add(callee);
      queue.push(callee);
    }
  }
  return found;
}

/** The return statements of a function's own body (not of functions nested in it). */
function ownReturns(fn: ts.Node): ts.ReturnStatement[] {
  const out: ts.ReturnStatement[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isReturnStatement(node)) out.push(node);
    if (!isFunctionLike(node)) ts.forEachChild(node, visit);
  };
  ts.forEachChild(fn, visit);
  return out;
}

/**
 * Function expressions in enclave code whose every return (or the whole function) is
 * `@declassify`: wrapped in `__cloisterDeclassifies(…)`, which the enclave runtime records.
 */
function declassifiedClosureEdits(analysis: Analysis, plan: PartitionPlan): Map<string, Edit[]> {
  const { builder, annotations } = analysis;
  const edits = new Map<string, Edit[]>();
  const ids = new Set(annotations.declassified.filter((d) => d.scope !== 'call').map((d) => d.function));
  for (const id of ids) {
    const decl = builder.declarationOf(id);
    const fn = analysis.graph.functions.get(id);
    if (decl === undefined || fn === undefined || fn.parent === undefined || !plan.enclave.has(id)) continue;
    if (!ts.isFunctionExpression(decl) && !ts.isArrowFunction(decl)) continue;
    const whole = annotations.declassified.some((d) => d.function === id && d.scope === 'function');
    const returns = ownReturns(decl);
    const all =
      returns.length > 0 &&
      returns.every((r) => annotations.declassifiedReturns.has(`${fn.file}:${builder.lineOf(r)}`));
    if (!whole && !all) continue;
    const start = decl.getStart();
    edits.set(fn.file, [
      ...(edits.get(fn.file) ?? []),
      { start, end: start, text: 'globalThis.__cloisterDeclassifies(' },
      { start: decl.getEnd(), end: decl.getEnd(), text: ')' },
    ]);
  }
  return edits;
}

export function writePartitioned(analysis: Analysis, plan: PartitionPlan, out: string): Generated {
  const { graph, builder, app } = analysis;
  const iface: InterfaceFile = plan.interface;
  const entries = new Map(iface.entries.map((e) => [e.function, e.name]));
  const exitTargets = new Set(iface.exits.map((e) => e.target));
  const unsupported: Generated['unsupported'] = [];
  const hostEdits = new Map<string, Edit[]>();
  const enclaveEdits = new Map<string, Edit[]>();
  const registrations = new Map<string, string[]>();
  const hostRegistrations = new Map<string, string[]>();
  const push = (map: Map<string, Edit[]>, file: string, edit: Edit): void => {
    map.set(file, [...(map.get(file) ?? []), edit]);
  };

  const loading = runAtLoad(analysis);
  const outermost = (node: ts.Node, inside: (id: string) => boolean): boolean => {
    for (let p = node.parent; p !== undefined && !ts.isSourceFile(p); p = p.parent) {
      const id = isFunctionLike(p) ? builder.fnId(p) : undefined;
      if (id !== undefined && inside(id)) return false;
    }
    return true;
  };

  for (const fn of graph.functions.values()) {
    if (fn.kind === 'module') continue;
    const decl = builder.declarationOf(fn.id);
    if (decl === undefined) continue;
    const range = bodyRange(decl);
    const isCtor = ts.isConstructorDeclaration(decl);
    if (plan.enclave.has(fn.id)) {
      if (!outermost(decl, (id) => plan.enclave.has(id))) continue; // moves with the enclave function around it
      if (!outermost(decl, (id) => !plan.enclave.has(id)) || range === undefined) {
        unsupported.push({
          function: fn.id,
          reason: 'an enclave function inside a host function (or without a block body) is not moved yet',
        });
        continue;
      }
      const entry = entries.get(fn.id);
      const ref = reference(decl);
      if (entry !== undefined && ref === undefined) {
        unsupported.push({
          function: fn.id,
          reason: 'an entry that is not a top-level function or a method of a top-level class',
        });
        continue;
      }
      // Constructors of enclave classes: the host keeps building its own object (public fields),
      // the enclave builds the mirror that holds the sensitive ones.
      if (isCtor && entry !== undefined) {
        const body = (decl as ts.ConstructorDeclaration).body as ts.Block;
        const superCall = body.statements.find(
          (s) =>
            ts.isExpressionStatement(s) &&
            ts.isCallExpression(s.expression) &&
            s.expression.expression.kind === ts.SyntaxKind.SuperKeyword,
        );
        const keep = superCall !== undefined ? `${superCall.getText()} ` : '';
        push(hostEdits, fn.file, {
          ...range,
          text: `{ ${keep}globalThis.__cloister.enterConstructor(${JSON.stringify(entry)}, this, arguments); }`,
        });
      } else {
        push(hostEdits, fn.file, {
          ...range,
          text:
            entry === undefined
              ? guard(fn.id)
              : es5Class(decl)
                ? // `new X(…)` of an ES5 class builds the enclave's mirror, a call stays a call.
                  `{ if (new.target !== undefined) { globalThis.__cloister.enterConstructor(${JSON.stringify(entry)}, this, arguments); return; } ${stub('enter', entry, false).slice(2)}`
                : stub('enter', entry, false),
        });
      }
      if (entry !== undefined && ref !== undefined)
        registrations.set(fn.file, [
          ...(registrations.get(fn.file) ?? []),
          `${JSON.stringify(entry)}, ${ref}`,
        ]);
    } else {
      if (!outermost(decl, (id) => !plan.enclave.has(id)) || range === undefined) continue;
      // A function made inside an enclave function (a callback it hands to a library) exists only
      // there: it moves with the function around it.
      if (!outermost(decl, (id) => plan.enclave.has(id))) continue;
      if (isCtor) continue; // host classes are built on the host; the enclave only sees their data
      if (loading.has(fn.id) && fn.pinnedHost === undefined) continue; // runs while the module loads, on both sides
      if (plan.copied.has(fn.id)) continue; // a pure helper: the enclave runs its own copy
      const ref = reference(decl);
      const isExit = exitTargets.has(fn.name) && ref !== undefined;
      const method = hostMethod(decl);
      const crossing = isExit
        ? stub('exit', fn.name, false)
        : method !== undefined
          ? `{ return globalThis.__cloister.hostMethod(${JSON.stringify(method)}, this, arguments, ${JSON.stringify(fn.id)}); }`
          : guard(fn.id);
      // A host method the enclave calls on an object the host does not have (one the enclave made
      // and kept) runs its own body there: the host has no object to run it on. An accessor (no
      // exit reaches one) always runs on the enclave's object: its copy or its own.
      const local = fn.pinnedHost === undefined && decl.body !== undefined;
      if (local && hostAccessor(decl)) continue;
      // An ES5 class's prototype method (`modes.gcm.prototype.generateHashTable = function …`) too.
      const es5Method = es5ClassOfThis(decl) !== undefined && es5ClassOf(decl) === undefined;
      push(enclaveEdits, fn.file, {
        ...range,
        text:
          local && (method !== undefined || es5Method)
            ? `{ if (globalThis.__cloister.onHost(this)) ${crossing} ${decl.body?.getText()} }`
            : crossing,
      });
      if (isExit)
        hostRegistrations.set(fn.file, [
          ...(hostRegistrations.get(fn.file) ?? []),
          `${JSON.stringify(fn.name)}, ${ref}`,
        ]);
    }
  }

  // Closures whose result the source declassifies (a method of an object the enclave keeps): the
  // enclave copy marks them, so their result leaves in clear when the host calls them.
  for (const [file, edits] of declassifiedClosureEdits(analysis, plan))
    for (const e of edits) push(enclaveEdits, file, e);

  // Calls out with sensitive arguments, in code the enclave copy keeps (not in a replaced body).
  for (const [file, edits] of sealedExitEdits(analysis, plan)) {
    const replaced = enclaveEdits.get(file) ?? [];
    for (const e of edits)
      if (!replaced.some((r) => e.start >= r.start && e.end <= r.end)) push(enclaveEdits, file, e);
  }

  const target = resolve(out);
  if (
    target === app.root ||
    target.startsWith(`${app.root}${sep}`) ||
    app.root.startsWith(`${target}${sep}`)
  ) {
    throw new PartitionError(
      out,
      0,
      'the output directory must be outside the application (and not contain it)',
    );
  }
  // What crosses as a structured clone cannot carry functions: host objects with methods (a model
  // object, a callback) are not proxied yet.
  for (const e of iface.entries) {
    const loose = e.params.filter((p) => p.schema.type === 'function' || p.schema.type === 'any');
    if (loose.length > 0) {
      unsupported.push({
        function: e.function,
        reason: `parameters ${loose.map((p) => p.name).join(', ')} may be host objects with methods or callbacks, which are not proxied yet`,
      });
    }
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const host = join(out, 'host');
  const enclave = join(out, 'enclave');
  const skip = (src: string): boolean => /(^|\/)(node_modules|\.git)$/.test(src);
  for (const side of [host, enclave]) {
    cpSync(app.root, side, { recursive: true, filter: (src) => !skip(src) });
    if (existsSync(join(app.root, 'node_modules')))
      symlinkSync(join(app.root, 'node_modules'), join(side, 'node_modules'), 'dir');
  }
  for (const file of app.files) {
    const rel = app.rel(file.fileName);
    const text = file.text;
    const hostRegs: string[] = (hostRegistrations.get(rel) ?? []).map(
      (r) => `globalThis.__cloisterRegisterHost?.(${r});`,
    );
    const classes = classNames(file).map(
      (c) => `globalThis.__cloisterRegisterHostClass?.(${JSON.stringify(c.name)}, ${c.expr});`,
    );
    if (classes.length > 0) hostRegs.push(...classes);
    hostRegs.push(
      ...(registrations.get(rel) ?? []).map((r) => `globalThis.__cloisterRegisterEntryStub?.(${r});`),
    );
    const hostText =
      applyEdits(text, hostEdits.get(rel) ?? []) +
      (hostRegs.length > 0
        ? `\n// cloister: host functions the enclave may call, stubs of its entries\n${hostRegs.join('\n')}\n`
        : '');
    const regs = (registrations.get(rel) ?? []).map((r) => `globalThis.__cloisterRegister?.(${r});`);
    // Classes cross by name: each side's copy of a class stands for the other's.
    regs.push(...classes.map((c) => c.replace('__cloisterRegisterHostClass', '__cloisterRegisterClass')));
    const enclaveText =
      applyEdits(text, enclaveEdits.get(rel) ?? []) +
      (regs.length > 0 ? `\n// cloister: enclave entries and classes\n${regs.join('\n')}\n` : '');
    writeFileSync(join(host, rel), noCheck(rel, hostText, text));
    writeFileSync(join(enclave, rel), noCheck(rel, enclaveText, text));
  }
  const spec = JSON.stringify(iface, null, 2);
  writeFileSync(join(out, 'interface.json'), `${spec}\n`);
  mkdirSync(join(host, 'cloister'), { recursive: true });
  mkdirSync(join(enclave, 'cloister'), { recursive: true });
  writeFileSync(join(host, 'cloister', 'host-runtime.cjs'), HOST_RUNTIME(spec));
  writeFileSync(join(enclave, 'cloister', 'enclave-runtime.cjs'), ENCLAVE_RUNTIME(spec));
  const modules = [...registrations.keys()].sort().map((rel) => `../${rel}`);
  writeFileSync(join(enclave, 'cloister', 'enclave-main.cjs'), ENCLAVE_MAIN(modules));
  const launcher = pathToFileURL(join(packageRoot(), 'dist', 'partition-host.js')).href;
  writeFileSync(join(host, 'cloister', 'start.mjs'), HOST_START(launcher));
  writeFileSync(join(out, 'generation.json'), `${JSON.stringify({ unsupported }, null, 2)}\n`);
  return { unsupported };
}
