/** The analysis end to end: load and type-check, build the graph, read the marks, slice. */
import { collectAnnotations, type Annotations } from './annotations.ts';
import { GraphBuilder } from './build-graph.ts';
import type { DependenceGraph } from './graph.ts';
import { loadApp, type LoadedApp } from './project.ts';
import { computeSlices, type Slices } from './slice.ts';

export interface Analysis {
  app: LoadedApp;
  builder: GraphBuilder;
  graph: DependenceGraph;
  annotations: Annotations;
  slices: Slices;
}

export function analyze(
  root: string,
  options: { include?: string[]; allowTypeErrors?: boolean } = {},
): Analysis {
  const app = loadApp(root, options.include, options.allowTypeErrors === true);
  const builder = new GraphBuilder(app);
  const graph = builder.build();
  for (const e of app.typeErrors)
    graph.precisionLoss.push({
      file: e.file,
      line: e.line,
      reason: 'type-error',
      detail: e.message.slice(0, 200),
    });
  const annotations = collectAnnotations(builder, app.files, app.rel);
  const slices = computeSlices(graph, annotations);
  return { app, builder, graph, annotations, slices };
}
