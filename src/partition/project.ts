/**
 * Loads an application for analysis: its own source files (TypeScript, or JavaScript with JSDoc
 * types through allowJs + checkJs), with the type checker over them and their dependencies.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { Project, ts } from 'ts-morph';
import { PartitionError } from './errors.ts';

const SOURCE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;
/** Folders that are not the application's own code when package.json names no `files`. */
const NOT_APP = new Set([
  'node_modules',
  'test',
  'tests',
  'dist',
  'build',
  'docs',
  'examples',
  'scripts',
  'conf',
  'coverage',
]);
const TOOL_CONFIG = /(^|[.-])(config|conf|karma|webpack|rollup|gulpfile|Gruntfile)[^/]*\.(c|m)?js$/;

export interface LoadedApp {
  root: string;
  project: Project;
  program: ts.Program;
  checker: ts.TypeChecker;
  /** The application's own files (absolute paths), the ones partitioned. */
  files: ts.SourceFile[];
  rel(fileName: string): string;
  /** Type errors let through with `allowTypeErrors`: the types there are not trusted. */
  typeErrors: { file: string; line: number; message: string }[];
}

function walk(dir: string, out: string[], skipTop: boolean, depth = 0): void {
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) {
      if (name === 'node_modules' || (skipTop && depth === 0 && NOT_APP.has(name))) continue;
      walk(path, out, skipTop, depth + 1);
    } else if (SOURCE.test(name) && !name.endsWith('.d.ts') && !TOOL_CONFIG.test(name)) {
      out.push(path);
    }
  }
}

/** Expands package.json `files` entries: folders, files, and `dir/*.ext` patterns. */
function expandFilesEntry(root: string, entry: string, out: string[]): void {
  const star = entry.indexOf('*');
  if (star < 0) {
    const path = join(root, entry);
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) walk(path, out, false);
    else if (SOURCE.test(path) && !path.endsWith('.d.ts')) out.push(path);
    return;
  }
  const dir = join(root, entry.slice(0, entry.lastIndexOf('/', star) + 1));
  const suffix = entry.slice(entry.lastIndexOf('*') + 1);
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (name.endsWith(suffix) && SOURCE.test(name) && !name.endsWith('.d.ts') && statSync(path).isFile())
      out.push(path);
  }
}

/** The application's own source files: `include` if given, else package.json `files` + `main`, else all but tests and tooling. */
export function applicationFiles(root: string, include?: string[]): string[] {
  const out: string[] = [];
  const pkgPath = join(root, 'package.json');
  const pkg = existsSync(pkgPath)
    ? (JSON.parse(readFileSync(pkgPath, 'utf8')) as { files?: string[]; main?: string })
    : {};
  const entries = include ?? pkg.files;
  if (entries !== undefined) {
    for (const entry of entries) expandFilesEntry(root, entry.replace(/^\.\//, ''), out);
    if (include === undefined && pkg.main !== undefined)
      expandFilesEntry(root, pkg.main.replace(/^\.\//, ''), out);
  } else {
    walk(root, out, true);
  }
  return [...new Set(out)].sort();
}

function compilerOptions(root: string): { tsConfigFilePath?: string; options: ts.CompilerOptions } {
  const tsconfig = join(root, 'tsconfig.json');
  return {
    tsConfigFilePath: existsSync(tsconfig) ? tsconfig : undefined,
    options: {
      allowJs: true,
      checkJs: true,
      noEmit: true,
      skipLibCheck: true,
      esModuleInterop: true,
      resolveJsonModule: true,
      ignoreDeprecations: '6.0',
      // The checker must see the module graph; Node's resolution also resolves CommonJS `require`.
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: existsSync(join(root, 'node_modules', '@types', 'node')) ? ['node'] : [],
      maxNodeModuleJsDepth: 0,
    },
  };
}

function position(file: ts.SourceFile, pos: number): number {
  return file.getLineAndCharacterOfPosition(pos).line + 1;
}

/**
 * Refuses source that does not type-check: TypeScript files must have no errors; JavaScript files
 * no syntax errors (checkJs errors in untyped JavaScript are the norm, and the analysis falls back
 * to conservative flow where types are missing).
 */
function checkDiagnostics(app: LoadedApp, allowTypeErrors: boolean): void {
  for (const file of app.files) {
    const isTs = /\.(ts|tsx|mts|cts)$/.test(file.fileName);
    const diagnostics = isTs
      ? [...app.program.getSyntacticDiagnostics(file), ...app.program.getSemanticDiagnostics(file)]
      : app.program.getSyntacticDiagnostics(file);
    for (const error of diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error)) {
      const line =
        error.file !== undefined && error.start !== undefined ? position(error.file, error.start) : 1;
      const where = error.file !== undefined ? app.rel(error.file.fileName) : app.rel(file.fileName);
      const message = ts.flattenDiagnosticMessageText(error.messageText, ' ');
      const syntax = error.code < 2000;
      if (!allowTypeErrors || syntax)
        throw new PartitionError(where, line, `does not type-check: ${message}`);
      app.typeErrors.push({ file: where, line, message });
    }
  }
}

export function loadApp(rootDir: string, include?: string[], allowTypeErrors = false): LoadedApp {
  const root = resolve(rootDir);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new PartitionError(rootDir, 0, 'not a directory');
  const paths = applicationFiles(root, include);
  if (paths.length === 0) throw new PartitionError(rootDir, 0, 'no TypeScript or JavaScript source files');
  const { tsConfigFilePath, options } = compilerOptions(root);
  const project = new Project({
    tsConfigFilePath,
    skipAddingFilesFromTsConfig: true,
    compilerOptions: options,
  });
  for (const path of paths) project.addSourceFileAtPath(path);
  const program = project.getProgram().compilerObject;
  const wanted = new Set(paths);
  const files = program.getSourceFiles().filter((f) => wanted.has(resolve(f.fileName)));
  const app: LoadedApp = {
    root,
    project,
    program,
    checker: program.getTypeChecker(),
    files,
    rel: (fileName) => relative(root, fileName).split(sep).join('/'),
    typeErrors: [],
  };
  checkDiagnostics(app, allowTypeErrors);
  return app;
}
