/**
 * Pure host helpers the enclave calls: host functions (they see no sensitive data) whose result
 * depends only on their arguments and what they read, and which change nothing — no assignment
 * outside their own frame, no `delete`, no `new`, calls only of other such helpers and of
 * side-effect-free built-ins, no module variable that can change. The enclave copy keeps their
 * bodies (Glamdring's "copy pure utilities to both sides"): a call to one is no crossing, where it
 * was an exit. This is an analysis decision the interface file and the report list: each copied
 * helper is code in the enclave (its TCB), though it can do nothing but compute a value the enclave
 * would otherwise have taken from the host.
 */
import { ts } from 'ts-morph';
import type { Analysis } from './analyze.ts';

/** Built-ins that read their arguments and change nothing, called by name (`Object.keys(o)`). */
const PURE_BUILTINS = new Set([
  'Object.keys',
  'Object.values',
  'Object.entries',
  'Object.is',
  'Array.isArray',
  'Number.isInteger',
  'Number.isFinite',
  'Number.isNaN',
  'Number.isSafeInteger',
  'String',
  'Number',
  'Boolean',
  'parseInt',
  'parseFloat',
  'isNaN',
  'isFinite',
]);
const PURE_NAMESPACES = new Set(['Math']);

/** The body of a function as the generator copies it (a block, an expression for an arrow). */
type FunctionNode = ts.SignatureDeclaration & { body?: ts.Node };

const isInside = (decl: ts.Declaration | undefined, fn: ts.Node): boolean =>
  decl !== undefined &&
  decl.getSourceFile() === fn.getSourceFile() &&
  decl.pos >= fn.pos &&
  decl.end <= fn.end;

/** A global the program does not shadow: its declarations are all in declaration files. */
function isGlobal(checker: ts.TypeChecker, id: ts.Identifier): boolean {
  const decls = checker.getSymbolAtLocation(id)?.declarations ?? [];
  return decls.length > 0 && decls.every((d) => d.getSourceFile().isDeclarationFile);
}

/** Whether `name` (`Object.keys`, `Math.max`, `String`) is a call of a pure built-in. */
function pureBuiltin(checker: ts.TypeChecker, callee: ts.Expression): boolean {
  if (ts.isIdentifier(callee)) return PURE_BUILTINS.has(callee.text) && isGlobal(checker, callee);
  if (!ts.isPropertyAccessExpression(callee) || !ts.isIdentifier(callee.expression)) return false;
  const base = callee.expression;
  return (
    (PURE_BUILTINS.has(`${base.text}.${callee.name.text}`) || PURE_NAMESPACES.has(base.text)) &&
    isGlobal(checker, base)
  );
}

/** A method of a string, number or boolean (`s.trim()`): primitives have no state to change. */
function primitiveMethod(checker: ts.TypeChecker, callee: ts.Expression): boolean {
  if (!ts.isPropertyAccessExpression(callee)) return false;
  const type = checker.getTypeAtLocation(callee.expression);
  const parts = type.isUnion() ? type.types : [type];
  const primitive = ts.TypeFlags.StringLike | ts.TypeFlags.NumberLike | ts.TypeFlags.BooleanLike;
  return parts.every((t) => (t.flags & primitive) !== 0);
}

/** A module variable that may change (`let`, `var`): the enclave's copy of it would not follow the host's. */
function mutableModuleVariable(decl: ts.Declaration): boolean {
  if (!ts.isVariableDeclaration(decl)) return false;
  const list = decl.parent;
  if (!ts.isVariableDeclarationList(list) || (list.flags & ts.NodeFlags.Const) !== 0) return false;
  return ts.isSourceFile(list.parent.parent);
}

/**
 * Why `fn` is not a pure helper, or undefined when it is; `callees` collects the application
 * functions it calls (each must be one too).
 */
function impurity(analysis: Analysis, fn: FunctionNode, callees: Set<string>): string | undefined {
  const checker = analysis.app.checker;
  const body = fn.body;
  if (body === undefined) return 'no body';
  const ownFrame = (target: ts.Expression): boolean =>
    ts.isIdentifier(target) && isInside(checker.getSymbolAtLocation(target)?.declarations?.[0], fn);
  let why: string | undefined;
  const visit = (node: ts.Node): void => {
    if (why !== undefined) return;
    if (node !== body && (ts.isFunctionLike(node) || ts.isClassLike(node))) why = 'makes a function or class';
    else if (
      ts.isBinaryExpression(node) &&
      node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
      node.operatorToken.kind <= ts.SyntaxKind.LastAssignment &&
      !ownFrame(node.left)
    )
      why = `assigns ${node.left.getText()}`;
    else if (
      (ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) &&
      (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken) &&
      !ownFrame(node.operand)
    )
      why = `changes ${node.operand.getText()}`;
    else if (ts.isDeleteExpression(node)) why = 'deletes a property';
    else if (ts.isNewExpression(node)) why = 'makes an object with new';
    else if (ts.isAwaitExpression(node) || ts.isYieldExpression(node) || ts.isTaggedTemplateExpression(node))
      why = 'awaits, yields or calls a tag';
    else if (ts.isCallExpression(node)) {
      const target = checker.getResolvedSignature(node)?.declaration;
      const id =
        target !== undefined && !ts.isJSDocSignature(target) ? analysis.builder.fnId(target) : undefined;
      if (id !== undefined && analysis.graph.functions.has(id)) callees.add(id);
      else if (!pureBuiltin(checker, node.expression) && !primitiveMethod(checker, node.expression))
        why = `calls ${node.expression.getText()}`;
    } else if (ts.isIdentifier(node)) {
      const decl = checker.getSymbolAtLocation(node)?.declarations?.[0];
      if (decl !== undefined && mutableModuleVariable(decl)) why = `reads the module variable ${node.text}`;
    }
    if (why === undefined) ts.forEachChild(node, visit);
  };
  visit(body);
  return why;
}

/**
 * The pure host helpers enclave functions call, and those they call in turn: function id → what
 * the enclave calls it as. Functions with a cause to stay on the host (Node I/O), constructors,
 * accessors and async functions are never copied.
 */
export function pureHostHelpers(
  analysis: Analysis,
  enclave: ReadonlyMap<string, unknown>,
): Map<string, string> {
  const { graph, builder } = analysis;
  const verdicts = new Map<string, boolean>();
  const pure = (id: string, path: Set<string>): boolean => {
    const known = verdicts.get(id);
    if (known !== undefined) return known;
    if (path.has(id)) return true; // recursion: pure if the rest of the cycle is
    const info = graph.functions.get(id);
    const decl = builder.declarationOf(id) as FunctionNode | undefined;
    let ok =
      info !== undefined &&
      decl !== undefined &&
      !enclave.has(id) &&
      info.pinnedHost === undefined &&
      !info.async &&
      (info.kind === 'function' || info.kind === 'method' || info.kind === 'arrow') &&
      (decl as { asteriskToken?: unknown }).asteriskToken === undefined;
    if (ok && decl !== undefined) {
      const callees = new Set<string>();
      ok = impurity(analysis, decl, callees) === undefined;
      path.add(id);
      for (const callee of callees) if (ok) ok = pure(callee, path);
      path.delete(id);
    }
    verdicts.set(id, ok);
    return ok;
  };
  const copied = new Map<string, string>();
  const add = (id: string, why: string): void => {
    if (copied.has(id)) return;
    copied.set(id, why);
    for (const call of graph.calls)
      if (call.caller === id && graph.functions.has(call.callee) && !enclave.has(call.callee))
        add(call.callee, `called by the copied ${graph.functions.get(id)?.name}`);
  };
  for (const call of graph.calls) {
    if (!enclave.has(call.caller) || enclave.has(call.callee) || !graph.functions.has(call.callee)) continue;
    if (pure(call.callee, new Set()))
      add(call.callee, `called by ${graph.functions.get(call.caller)?.name} (${call.file}:${call.line})`);
  }
  return copied;
}
