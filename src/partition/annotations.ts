/**
 * The developer's marks: `@sensitive` (JSDoc on a variable, field, parameter or function return)
 * or a `Sensitive<T>` type, and `@declassify` (on a function or a return statement).
 */
import { ts } from 'ts-morph';
import { isFunctionLike, type GraphBuilder } from './build-graph.ts';
import { PartitionError } from './errors.ts';

export interface Source {
  node: string;
  file: string;
  line: number;
  how: 'jsdoc' | 'type';
  what: string;
}

export interface Declassification {
  file: string;
  line: number;
  /** The function whose return may leave in clear, or the function of the return or call statement. */
  function: string;
  /** `call`: the calls in a statement pass their (sensitive) arguments out in clear. */
  scope: 'function' | 'return' | 'call';
}

export interface Annotations {
  sources: Source[];
  declassified: Declassification[];
  /** Return statements (file:line) whose value may leave in clear. */
  declassifiedReturns: Set<string>;
  /** Statements (file, start, end) whose calls out may pass sensitive arguments in clear. */
  declassifiedCalls: { file: string; start: number; end: number }[];
}

function jsDocOf(node: ts.Node): readonly ts.JSDoc[] {
  return (node as { jsDoc?: ts.JSDoc[] }).jsDoc ?? [];
}

function tagged(node: ts.Node, name: string): ts.JSDocTag[] {
  return jsDocOf(node)
    .flatMap((doc) => [...(doc.tags ?? [])])
    .filter((t) => t.tagName.text === name);
}

function comment(tag: ts.JSDocTag): string {
  return (
    typeof tag.comment === 'string' ? tag.comment : (ts.getTextOfJSDocComment(tag.comment) ?? '')
  ).trim();
}

export function collectAnnotations(
  builder: GraphBuilder,
  files: readonly ts.SourceFile[],
  rel: (f: string) => string,
): Annotations {
  const result: Annotations = {
    sources: [],
    declassified: [],
    declassifiedReturns: new Set(),
    declassifiedCalls: [],
  };
  const enclosing = (n: ts.Node): string => {
    let fn: ts.Node | undefined = n.parent;
    while (fn !== undefined && !isFunctionLike(fn)) fn = fn.parent;
    return fn === undefined ? '<module>' : (builder.fnId(fn) ?? '?');
  };
  const hasCall = (n: ts.Node): boolean =>
    ts.isCallExpression(n) || (!isFunctionLike(n) && ts.forEachChild(n, hasCall) === true);
  const where = (n: ts.Node): { file: string; line: number } => ({
    file: rel(n.getSourceFile().fileName),
    line: builder.lineOf(n),
  });
  const refuse = (n: ts.Node, message: string): never => {
    const at = where(n);
    throw new PartitionError(at.file, at.line, message);
  };
  const add = (n: ts.Node, node: string | undefined, how: Source['how'], what: string): void => {
    if (node === undefined)
      refuse(
        n,
        `cannot be partitioned: ${what} is not a variable, field, parameter or function return of the application`,
      );
    result.sources.push({ node: node as string, ...where(n), how, what });
  };

  /** The graph node a sensitive declaration stands for. */
  const nodeOf = (decl: ts.Node, paramName?: string): string | undefined => {
    if (isFunctionLike(decl)) {
      const fn = builder.fnId(decl);
      if (fn === undefined) return undefined;
      if (paramName !== undefined) {
        const p = decl.parameters.find((q) => q.name.getText() === paramName);
        if (p === undefined) refuse(decl, `@sensitive ${paramName}: no such parameter`);
        return builder.declarationNode(p as ts.ParameterDeclaration);
      }
      return `${fn}#return`;
    }
    if (ts.isVariableDeclaration(decl)) {
      if (decl.initializer !== undefined && isFunctionLike(decl.initializer))
        return nodeOf(decl.initializer, paramName);
      return builder.declarationNode(decl);
    }
    if (ts.isParameter(decl))
      return isFunctionLike(decl.parent) && decl.parent.body !== undefined
        ? builder.declarationNode(decl)
        : undefined;
    if (ts.isPropertyDeclaration(decl) || ts.isPropertySignature(decl) || ts.isPropertyAssignment(decl)) {
      if (
        (ts.isPropertyDeclaration(decl) || ts.isPropertyAssignment(decl)) &&
        decl.initializer !== undefined &&
        isFunctionLike(decl.initializer)
      ) {
        return nodeOf(decl.initializer, paramName);
      }
      return builder.fieldNode(decl, decl.name.getText());
    }
    if (
      ts.isExpressionStatement(decl) &&
      ts.isBinaryExpression(decl.expression) &&
      ts.isPropertyAccessExpression(decl.expression.left)
    ) {
      const { left, right } = decl.expression;
      if (isFunctionLike(right)) return nodeOf(right, paramName);
      const symbol = builder.app.checker.getSymbolAtLocation(left.name);
      const d = symbol?.declarations?.[0];
      return d === undefined ? undefined : builder.fieldNode(d, left.name.text);
    }
    return undefined;
  };

  const describe = (n: ts.Node): string => {
    // The enum's reverse mapping gives markers like `FirstStatement` for some kinds: take the real name.
    const name =
      Object.keys(ts.SyntaxKind).find(
        (k) => ts.SyntaxKind[k as keyof typeof ts.SyntaxKind] === n.kind && !/^(First|Last)/.test(k),
      ) ?? ts.SyntaxKind[n.kind];
    return name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  };

  const visit = (n: ts.Node): void => {
    for (const tag of tagged(n, 'sensitive')) {
      const hosts = ts.isVariableStatement(n) ? [...n.declarationList.declarations] : [n];
      const name = comment(tag).split(/\s+/)[0] || undefined;
      for (const host of hosts) {
        const node = nodeOf(
          host,
          isFunctionLike(host) ||
            (ts.isVariableDeclaration(host) &&
              host.initializer !== undefined &&
              isFunctionLike(host.initializer))
            ? name
            : undefined,
        );
        add(host, node, 'jsdoc', `@sensitive on a ${describe(host)}`);
      }
    }
    for (const tag of tagged(n, 'declassify')) {
      const fnNode = ts.isVariableStatement(n)
        ? n.declarationList.declarations[0]?.initializer
        : ts.isPropertyAssignment(n) || ts.isPropertyDeclaration(n)
          ? n.initializer
          : n;
      if (ts.isReturnStatement(n)) {
        const at = where(n);
        result.declassifiedReturns.add(`${at.file}:${at.line}`);
        result.declassified.push({ ...at, function: enclosing(n), scope: 'return' });
      } else if (fnNode !== undefined && isFunctionLike(fnNode) && builder.fnId(fnNode) !== undefined) {
        result.declassified.push({
          ...where(n),
          function: builder.fnId(fnNode) as string,
          scope: 'function',
        });
      } else if ((ts.isExpressionStatement(n) || ts.isVariableStatement(n)) && hasCall(n)) {
        const at = where(n);
        result.declassifiedCalls.push({ file: at.file, start: n.getStart(), end: n.getEnd() });
        result.declassified.push({ ...at, function: enclosing(n), scope: 'call' });
      } else {
        refuse(
          n,
          `cannot be partitioned: @declassify on a ${describe(n)}; it belongs on a function, a return statement or a statement that calls out`,
        );
      }
      void tag;
    }
    if (ts.isTypeReferenceNode(n) && n.typeName.getText() === 'Sensitive') {
      let host: ts.Node = n.parent;
      while (ts.isTypeNode(host)) host = host.parent;
      if (ts.isTypeAliasDeclaration(host) && host.name.text === 'Sensitive') {
        // the alias itself: `type Sensitive<T> = T`
      } else {
        add(host, nodeOf(host), 'type', `Sensitive<…> on a ${describe(host)}`);
      }
    }
    ts.forEachChild(n, visit);
  };
  for (const file of files) visit(file);
  return result;
}
