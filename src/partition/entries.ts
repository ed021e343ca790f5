/**
 * Which enclave functions the untrusted side can call, and so become entries (the allow-list of the
 * interface file): those a host function calls, those whose value reaches code outside the enclave
 * (a callback, a method handed out), and the module's API — what its file exports, with every
 * method and constructor of an exported class and of the classes it extends, since the program's
 * users (and its tests) call them directly. Everything else in the enclave is called only from
 * inside it and is refused at the boundary.
 */
import { ts } from 'ts-morph';
import type { Analysis } from './analyze.ts';

export type EntryReason = 'host-call' | 'exported' | 'value';

/** The declarations a source file exports (ES `export`, CommonJS `module.exports` / `exports.x`). */
function exportedDeclarations(checker: ts.TypeChecker, file: ts.SourceFile): Set<ts.Node> {
  const out = new Set<ts.Node>();
  // A CommonJS file has no symbol at its location; the binder's own is on the file.
  const moduleSymbol =
    checker.getSymbolAtLocation(file) ?? (file as ts.SourceFile & { symbol?: ts.Symbol }).symbol;
  if (moduleSymbol === undefined) return out;
  const add = (symbol: ts.Symbol | undefined, depth = 0): void => {
    if (symbol === undefined || depth > 3) return;
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    for (const decl of target.declarations ?? []) {
      out.add(decl);
      if (ts.isVariableDeclaration(decl) && decl.initializer !== undefined) out.add(decl.initializer);
      if (ts.isShorthandPropertyAssignment(decl))
        add(checker.getShorthandAssignmentValueSymbol(decl), depth + 1);
      if (ts.isPropertyAssignment(decl)) {
        out.add(decl.initializer);
        if (ts.isIdentifier(decl.initializer)) add(checker.getSymbolAtLocation(decl.initializer), depth + 1);
      }
      if (
        (ts.isBinaryExpression(decl) || ts.isPropertyAccessExpression(decl)) &&
        ts.isBinaryExpression(decl.parent)
      )
        out.add(decl.parent.right);
      if (ts.isBinaryExpression(decl)) {
        out.add(decl.right);
        if (ts.isIdentifier(decl.right)) add(checker.getSymbolAtLocation(decl.right), depth + 1);
        if (ts.isObjectLiteralExpression(decl.right))
          for (const p of decl.right.properties) {
            if (ts.isShorthandPropertyAssignment(p))
              add(checker.getShorthandAssignmentValueSymbol(p), depth + 1);
            else if (ts.isPropertyAssignment(p) && ts.isIdentifier(p.initializer))
              add(checker.getSymbolAtLocation(p.initializer), depth + 1);
            else out.add(p);
          }
      }
    }
  };
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) add(symbol);
  const exportEquals = moduleSymbol.exports?.get(ts.InternalSymbolName.ExportEquals);
  if (exportEquals !== undefined) add(exportEquals);
  return out;
}

/** An exported class and the classes it extends (their methods are reachable through it). */
function withBases(checker: ts.TypeChecker, cls: ts.ClassLikeDeclaration, out: Set<ts.Node>): void {
  if (out.has(cls)) return;
  out.add(cls);
  const type = checker.getTypeAtLocation(cls);
  for (const base of type.getBaseTypes?.() ?? []) {
    const decl = base.getSymbol()?.valueDeclaration;
    if (decl !== undefined && ts.isClassLike(decl)) withBases(checker, decl, out);
  }
}

export function entryPoints(analysis: Analysis, enclave: Map<string, string>): Map<string, EntryReason> {
  const { graph, builder, app } = analysis;
  const checker = app.checker;
  const exported = new Set<ts.Node>();
  const classes = new Set<ts.Node>();
  for (const file of app.files) {
    for (const decl of exportedDeclarations(checker, file)) {
      exported.add(decl);
      if (ts.isClassLike(decl)) withBases(checker, decl, classes);
    }
  }
  const reasons = new Map<string, EntryReason>();
  for (const call of graph.calls)
    if (enclave.has(call.callee) && !enclave.has(call.caller)) reasons.set(call.callee, 'host-call');
  for (const id of enclave.keys()) {
    if (reasons.has(id)) continue;
    const decl = builder.declarationOf(id);
    if (decl === undefined) continue;
    const parent = decl.parent;
    if (exported.has(decl) || (ts.isClassLike(parent) && classes.has(parent))) reasons.set(id, 'exported');
    else if (escapesToHost(analysis, `${id}#value`, enclave)) reasons.set(id, 'value');
  }
  return reasons;
}

/** Whether a function's value flows through code outside the enclave (a host function, module code). */
function escapesToHost(analysis: Analysis, node: string, enclave: Map<string, string>): boolean {
  const { graph } = analysis;
  return [...graph.outgoing(node), ...graph.incoming(node)].some((e) => !enclave.has(e.site));
}
