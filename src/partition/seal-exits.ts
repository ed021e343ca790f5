/**
 * Sensitive arguments of calls out to the host: an enclave function that calls through a function
 * value or an `any` receiver (`cb(key)`, `this.model.save(token)`) may be calling a host object. The
 * enclave copy routes each such call with a sensitive argument through the runtime
 * (`__cloister.callValue` / `callMethod`), which seals the arguments the analysis marked when the
 * callee turns out to be on the host, and calls it unchanged when it is enclave code.
 */
import { ts } from 'ts-morph';
import type { Analysis } from './analyze.ts';
import type { PartitionPlan } from './plan.ts';

/** The calls out of a `@declassify` statement pass their arguments in clear. */
export function inDeclassifiedCall(analysis: Analysis, file: string, at: number | undefined): boolean {
  return (
    at !== undefined &&
    analysis.annotations.declassifiedCalls.some((d) => d.file === file && at >= d.start && at < d.end)
  );
}

export interface Edit {
  start: number;
  end: number;
  text: string;
}

function callAt(file: ts.SourceFile, start: number): ts.CallExpression | undefined {
  let found: ts.CallExpression | undefined;
  const visit = (node: ts.Node): void => {
    if (found !== undefined || start < node.pos || start >= node.end) return;
    if (ts.isCallExpression(node) && node.getStart(file) === start) {
      found = node;
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** The edits (per file) that route calls out with sensitive arguments through the sealing runtime. */
export function sealedExitEdits(analysis: Analysis, plan: PartitionPlan): Map<string, Edit[]> {
  const { graph, app, slices } = analysis;
  const files = new Map(app.files.map((f) => [app.rel(f.fileName), f]));
  const edits = new Map<string, Edit[]>();
  const done = new Set<string>();
  for (const call of graph.calls) {
    if (call.args === undefined || call.start === undefined || !plan.enclave.has(call.caller)) continue;
    const mask = call.args.map((sources) => sources.some((s) => slices.forward.has(s)));
    const key = `${call.file}:${call.start}`;
    if (!mask.includes(true) || done.has(key) || inDeclassifiedCall(analysis, call.file, call.start))
      continue;
    const file = files.get(call.file);
    const node = file === undefined ? undefined : callAt(file, call.start);
    if (file === undefined || node === undefined || node.questionDotToken !== undefined) continue;
    if (node.arguments.some((a) => ts.isSpreadElement(a))) continue;
    const callee = node.expression;
    const marks = `], ${JSON.stringify(mask)})`;
    let head: Edit[];
    if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.name)) {
      if (callee.questionDotToken !== undefined || callee.expression.kind === ts.SyntaxKind.SuperKeyword)
        continue;
      head = [
        { start: node.getStart(file), end: node.getStart(file), text: 'globalThis.__cloister.callMethod(' },
        {
          start: callee.expression.getEnd(),
          end: node.arguments.pos,
          text: `, ${JSON.stringify(callee.name.text)}, [`,
        },
      ];
    } else if (ts.isIdentifier(callee)) {
      head = [
        { start: node.getStart(file), end: node.getStart(file), text: 'globalThis.__cloister.callValue(' },
        { start: callee.getEnd(), end: node.arguments.pos, text: ', [' },
      ];
    } else continue;
    done.add(key);
    edits.set(call.file, [
      ...(edits.get(call.file) ?? []),
      ...head,
      { start: node.getEnd() - 1, end: node.getEnd(), text: marks },
    ]);
  }
  return edits;
}
