// Worker threads running a TypeScript entry. Node 20 does not pass `--import tsx` on to workers, and
// registering tsx in each worker costs ~0.5 s of CPU apiece (its own loader thread), which for 32
// clients dominates a short benchmark. Instead the entry and the modules it imports (relative
// imports, followed) are transpiled once with TypeScript into plain ESM under a folder inside the
// repository (so that packages still resolve from node_modules), and workers load that.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** Modules followed from one entry: a guard against walking somewhere unexpected. */
const modulesMax = 200;

/** Transpiles `entry` and its relative imports into `outDir`; returns the compiled entry's path. */
export function compileForWorkers(entry: URL, outDir: string): string {
  const entryPath = fileURLToPath(entry);
  const queue = [entryPath];
  const done = new Set<string>();
  while (queue.length > 0) {
    const path = queue.pop()!;
    if (done.has(path)) continue;
    if (done.size >= modulesMax)
      throw new Error(`compileForWorkers: more than ${modulesMax} modules from ${entryPath}`);
    done.add(path);
    const source = readFileSync(path, 'utf8');
    const output = ts.transpileModule(source, {
      fileName: path,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
        rewriteRelativeImportExtensions: true,
      },
    }).outputText;
    const target = join(outDir, relative(repoRoot, path)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, output);
    for (const imported of ts.preProcessFile(source, true, true).importedFiles) {
      if (imported.fileName.startsWith('.') && imported.fileName.endsWith('.ts'))
        queue.push(resolve(dirname(path), imported.fileName));
    }
  }
  return join(outDir, relative(repoRoot, entryPath)).replace(/\.ts$/, '.js');
}

/** A folder inside the repository (gitignored) for compiled worker code; remove it when done. */
export function workerBuildDir(name: string): { path: string; remove: () => void } {
  const path = join(repoRoot, 'bench', 'results', `.build-${name}-${process.pid}`);
  mkdirSync(path, { recursive: true });
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function startWorker(compiledEntry: string, data: unknown): Worker {
  return new Worker(compiledEntry, { workerData: { data } });
}
