/**
 * How much of the program is inside: functions and code lines (lines with a token, not comments
 * or blanks) of the application, and with its production dependencies.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ts } from 'ts-morph';
import type { Analysis } from './analyze.ts';

export interface Metrics {
  functions: { total: number; enclave: number; percent: number };
  lines: { total: number; enclave: number; percent: number };
  withDependencies: {
    total: number;
    enclave: number;
    percent: number;
    packages: string[];
    enclavePackages: string[];
  };
  /** Pure host helpers the enclave copy keeps too (host code, also in the enclave's TCB). */
  copied: { functions: number; lines: number };
  annotations: number;
  precisionLoss: number;
}

/** Code lines of a source text: lines on which a token starts or continues. */
export function codeLines(text: string, jsx = false): Set<number> {
  const scanner = ts.createScanner(
    ts.ScriptTarget.Latest,
    true,
    jsx ? ts.LanguageVariant.JSX : ts.LanguageVariant.Standard,
    text,
  );
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  const lineAt = (pos: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const lines = new Set<number>();
  for (let kind = scanner.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scanner.scan()) {
    const a = lineAt(scanner.getTokenStart());
    const b = lineAt(Math.max(scanner.getTokenEnd() - 1, scanner.getTokenStart()));
    for (let l = a; l <= b; l++) lines.add(l);
  }
  return lines;
}

const percent = (a: number, b: number): number => (b === 0 ? 0 : Math.round((1000 * a) / b) / 10);

function packageDir(root: string, name: string): string | undefined {
  const dir = join(root, 'node_modules', name);
  return existsSync(join(dir, 'package.json')) ? dir : undefined;
}

/** Production dependencies, transitively (hoisted node_modules layout). */
function dependencyClosure(root: string, names: string[]): string[] {
  const seen = new Set<string>();
  const queue = [...names];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (seen.has(name)) continue;
    const dir = packageDir(root, name);
    if (dir === undefined) continue;
    seen.add(name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    queue.push(...Object.keys(pkg.dependencies ?? {}));
  }
  return [...seen].sort();
}

function packageLines(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const stat = statSync(path);
      if (stat.isDirectory()) {
        if (!['node_modules', 'test', 'tests', 'example', 'examples', 'docs'].includes(name)) walk(path);
      } else if (/\.(c|m)?js$/.test(name) && !name.endsWith('.min.js') && stat.size < 2_000_000) {
        n += codeLines(readFileSync(path, 'utf8')).size;
      }
    }
  };
  walk(dir);
  return n;
}

export function measure(
  analysis: Analysis,
  enclave: Map<string, string>,
  copied: ReadonlyMap<string, string> = new Map(),
): Metrics {
  const { graph, app } = analysis;
  const fns = [...graph.functions.values()].filter((f) => f.kind !== 'module');
  let total = 0;
  let inside = 0;
  let copiedLines = 0;
  for (const file of app.files) {
    const rel = app.rel(file.fileName);
    const lines = codeLines(file.text, /\.(t|j)sx$/.test(file.fileName));
    total += lines.size;
    const covered = (ids: Iterable<string>): number => {
      const seen = new Set<number>();
      for (const id of ids) {
        const fn = graph.functions.get(id);
        if (fn === undefined || fn.file !== rel) continue;
        for (let l = fn.line; l <= fn.endLine; l++) if (lines.has(l)) seen.add(l);
      }
      return seen.size;
    };
    inside += covered(enclave.keys());
    copiedLines += covered(copied.keys());
  }
  const pkgPath = join(app.root, 'package.json');
  const pkg = existsSync(pkgPath)
    ? (JSON.parse(readFileSync(pkgPath, 'utf8')) as { dependencies?: Record<string, string> })
    : {};
  const packages = dependencyClosure(app.root, Object.keys(pkg.dependencies ?? {}));
  // The packages enclave functions use, and theirs.
  const used = new Set<string>();
  for (const id of enclave.keys()) {
    const decl = analysis.builder.declarationOf(id);
    if (decl === undefined) continue;
    const visit = (n: ts.Node): void => {
      if (ts.isIdentifier(n)) {
        const symbol = app.checker.getSymbolAtLocation(n);
        for (const d of symbol?.declarations ?? []) {
          const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(d.getSourceFile().fileName);
          if (m !== null && !m[1].startsWith('@types/') && m[1] !== 'typescript') used.add(m[1]);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(decl);
    const file = decl.getSourceFile();
    for (const spec of file.statements) {
      // `require('pkg')` / `import … from 'pkg'` in an enclave function's file
      const text = spec.getText(file);
      for (const m of text.matchAll(/(?:require\(|from\s+)['"]((?:@[^/'"]+\/)?[^/'".][^/'"]*)/g)) {
        if (packages.includes(m[1]) && text.length < 400) used.add(m[1]);
      }
    }
  }
  const enclavePackages = dependencyClosure(
    app.root,
    [...used].filter((p) => packages.includes(p)),
  );
  const depLines = new Map(packages.map((p) => [p, packageLines(packageDir(app.root, p) as string)]));
  const depTotal = [...depLines.values()].reduce((a, b) => a + b, 0);
  const depInside = enclavePackages.reduce((a, p) => a + (depLines.get(p) ?? 0), 0);
  const enclaveFns = fns.filter((f) => enclave.has(f.id)).length;
  return {
    functions: { total: fns.length, enclave: enclaveFns, percent: percent(enclaveFns, fns.length) },
    lines: { total, enclave: inside, percent: percent(inside, total) },
    withDependencies: {
      total: total + depTotal,
      enclave: inside + depInside,
      percent: percent(inside + depInside, total + depTotal),
      packages,
      enclavePackages,
    },
    copied: { functions: copied.size, lines: copiedLines },
    annotations: analysis.annotations.sources.length + analysis.annotations.declassified.length,
    precisionLoss: graph.precisionLoss.length,
  };
}
