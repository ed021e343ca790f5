/**
 * ES5 classes in JavaScript sources: a constructor function whose prototype a top-level statement
 * extends. The generator registers them by name on both sides; the analysis names the fields their
 * constructor and methods set on `this` after them, so the runtime knows which stay inside.
 */
import { ts } from 'ts-morph';

/** `a.b.c`: identifiers joined by property accesses. */
export function isNamePath(node: ts.Expression): boolean {
  return ts.isIdentifier(node) || (ts.isPropertyAccessExpression(node) && isNamePath(node.expression));
}

/** The owners whose prototype a top-level statement of the file extends (`X`, `util.X`, `modes.ecb`). */
function prototypeOwners(file: ts.SourceFile): Set<string> {
  const owners = new Set<string>();
  for (const st of file.statements) {
    if (!ts.isExpressionStatement(st) || !ts.isBinaryExpression(st.expression)) continue;
    for (
      let left: ts.Expression = st.expression.left;
      ts.isPropertyAccessExpression(left);
      left = left.expression
    )
      if (left.name.text === 'prototype' && isNamePath(left.expression))
        owners.add(left.expression.getText());
  }
  return owners;
}

/**
 * The ES5 class a top-level function is the constructor of: a declaration whose name (or a path
 * ending in it) has its prototype extended, or a function expression assigned at the top level to
 * such a name or path.
 */
export function es5ClassOf(node: ts.Node): { name: string; expr: string } | undefined {
  const file = node.getSourceFile();
  if (ts.isFunctionDeclaration(node)) {
    if (node.name === undefined || node.body === undefined || !ts.isSourceFile(node.parent)) return undefined;
    const name = node.name.text;
    const owners = prototypeOwners(file);
    return [...owners].some((o) => o === name || o.endsWith(`.${name}`)) ? { name, expr: name } : undefined;
  }
  if (!ts.isFunctionExpression(node)) return undefined;
  const owners = prototypeOwners(file);
  // The names the function is assigned to: `var A = b.A = function …`, `b.c = function …`.
  const names: string[] = [];
  let top: ts.Node = node;
  for (;;) {
    const parent = top.parent;
    if (ts.isParenthesizedExpression(parent)) top = parent;
    else if (
      ts.isBinaryExpression(parent) &&
      parent.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
      parent.right === top
    ) {
      top = parent;
      if (isNamePath(parent.left)) names.push(parent.left.getText());
    } else break;
  }
  const statement = top.parent;
  if (ts.isVariableDeclaration(statement) && ts.isIdentifier(statement.name)) {
    if (!ts.isVariableStatement(statement.parent.parent) || !ts.isSourceFile(statement.parent.parent.parent))
      return undefined;
    names.push(statement.name.text);
  } else if (!ts.isExpressionStatement(statement) || !ts.isSourceFile(statement.parent)) return undefined;
  const expr = names.find((n) => owners.has(n));
  return expr === undefined ? undefined : { name: expr.split('.').pop() ?? expr, expr };
}

/**
 * The ES5 class whose `this` a function sees: the class it constructs, or whose prototype it is
 * assigned to at the top level (`X.prototype.m = function …`, `util.X.prototype.m = …`).
 */
export function es5ClassOfThis(fn: ts.Node): string | undefined {
  const ctor = es5ClassOf(fn);
  if (ctor !== undefined) return ctor.name;
  if (!ts.isFunctionExpression(fn)) return undefined;
  let top: ts.Node = fn;
  while (ts.isParenthesizedExpression(top.parent)) top = top.parent;
  while (ts.isBinaryExpression(top.parent) && top.parent.right === top) {
    top = top.parent;
    const left = (top as ts.BinaryExpression).left;
    if (
      ts.isPropertyAccessExpression(left) &&
      ts.isPropertyAccessExpression(left.expression) &&
      left.expression.name.text === 'prototype' &&
      isNamePath(left.expression.expression)
    ) {
      const owner = left.expression.expression.getText();
      return ts.isExpressionStatement(top.parent) && ts.isSourceFile(top.parent.parent)
        ? (owner.split('.').pop() ?? owner)
        : undefined;
    }
  }
  return undefined;
}
