/** The human-readable outputs: the figures table and an HTML report of the plan. */
import type { Analysis } from './analyze.ts';
import type { PartitionPlan } from './plan.ts';

export function formatTable(name: string, plan: PartitionPlan): string {
  const m = plan.metrics;
  const rows = [
    ['program', name],
    ['annotations added', String(m.annotations)],
    ['functions in the enclave', `${m.functions.enclave} / ${m.functions.total} (${m.functions.percent} %)`],
    ['code lines in the enclave', `${m.lines.enclave} / ${m.lines.total} (${m.lines.percent} %)`],
    [
      'with dependencies',
      `${m.withDependencies.enclave} / ${m.withDependencies.total} (${m.withDependencies.percent} %)` +
        (m.withDependencies.enclavePackages.length > 0
          ? ` [${m.withDependencies.enclavePackages.join(', ')}]`
          : ''),
    ],
    ['pure host helpers copied in', `${m.copied.functions} (${m.copied.lines} code lines; no crossing)`],
    ['enclave state (variables, fields)', String(plan.state.length)],
    ['entries (host → enclave)', String(plan.interface.entries.length)],
    ['exits (enclave → host)', String(plan.interface.exits.length)],
    ['declassified', String(plan.interface.declassified.length)],
    ['precision given up', String(m.precisionLoss)],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function htmlReport(name: string, analysis: Analysis, plan: PartitionPlan): string {
  const table = (head: string[], rows: string[][]): string =>
    `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows
      .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
      .join('')}</table>`;
  const i = plan.interface;
  return `<!doctype html><meta charset="utf-8"><title>Partition of ${esc(name)}</title>
<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}pre{background:#f6f6f6;padding:1em}</style>
<h1>Partition of ${esc(name)}</h1>
<pre>${esc(formatTable(name, plan))}</pre>
<h2>Sensitive sources</h2>${table(
    ['where', 'what'],
    i.sources.map((s) => [`${s.file}:${s.line}`, s.what]),
  )}
<h2>Declassified (may leave the enclave in clear)</h2>${table(
    ['where', 'function', 'scope'],
    i.declassified.map((d) => [`${d.file}:${d.line}`, d.function, d.scope]),
  )}
<h2>Enclave functions</h2>${table(
    ['function', 'where', 'why'],
    i.enclave.functions.map((f) => [
      f.name,
      `${f.file}:${f.line}`,
      f.reason === 'sees'
        ? 'sees sensitive data'
        : f.reason === 'affects'
          ? 'affects sensitive data'
          : 'synchronous cycle across the boundary',
    ]),
  )}
<h2>Pure host helpers copied into the enclave (no crossing; in its code, not its slices)</h2>${table(
    ['function', 'where', 'why'],
    i.enclave.copied.map((f) => [f.name, `${f.file}:${f.line}`, f.why]),
  )}
<h2>Enclave state</h2>${table(
    ['location', 'declared at'],
    i.enclave.state.map((s) => [s.label, `${s.file}:${s.line}`]),
  )}
<h2>Entries (host → enclave)</h2>${table(
    ['name', 'mode', 'parameters', 'returns', 'requires first'],
    i.entries.map((e) => [
      e.name,
      e.mode,
      e.params.map((p) => `${p.name}: ${p.schema.type} (${p.crossing})`).join(', '),
      `${e.returns.schema.type} (${e.returns.crossing})`,
      e.requires.join(', '),
    ]),
  )}
<h2>Exits (enclave → host)</h2>${table(
    ['target', 'call site', 'mode', 'arguments'],
    i.exits.map((e) => [e.target, `${e.file}:${e.line}`, e.mode, e.args.map((a) => a.crossing).join(', ')]),
  )}
<h2>Where precision was given up (${analysis.graph.precisionLoss.length})</h2>${table(
    ['where', 'reason', 'detail'],
    analysis.graph.precisionLoss.map((p) => [`${p.file}:${p.line}`, p.reason, p.detail]),
  )}
`;
}
