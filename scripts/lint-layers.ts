// Keeps imports in src/ pointing one way: each file belongs to a layer, and a file may import only
// from its own layer or a lower one. Prints every upward import, every file cycle and every pair of
// folders of one layer that import each other (such a pair has no "down" between them, so one of
// the two directions is an upward arrow in disguise), and exits 1 if there is any. See docs/architecture.md for what each layer owns.
//
// Imports are read with TypeScript's own pre-processor, so multi-line, type-only, re-exported and
// dynamic `import()` imports all count: a type shared upward ties the layers as much as a value.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Lowest first. A file's layer is that of its folder under src/ (or of the file itself at the top). */
const LAYERS: readonly (readonly string[])[] = [
  ['net', 'wire', 'view', 'util', 'log.ts'],
  ['settings', 'balance'],
  ['resolve', 'forward'],
  ['server', 'sources', 'workers', 'ops'],
  ['app.ts'],
  ['cli.ts'],
];

export interface ImportArrow {
  from: string;
  to: string;
}

export interface LayerReport {
  upward: ImportArrow[];
  fileCycles: string[][];
  folderCycles: [string, string][];
}

/** The folder (or top-level file) under src/ that decides a file's layer. */
export function unitOf(file: string): string {
  return file.split('/')[0]!;
}

export function layerOf(file: string): number {
  const unit = unitOf(file);
  const layer = LAYERS.findIndex((units) => units.includes(unit));
  if (layer < 0) throw new Error(`${file}: no layer for "${unit}"; add it to LAYERS in scripts/lint-layers.ts`);
  return layer;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every import arrow between files of src/, as paths relative to src/ with forward slashes. */
export function readArrows(srcDir: string): ImportArrow[] {
  const arrows: ImportArrow[] = [];
  for (const path of sourceFiles(srcDir)) {
    const from = relative(srcDir, path).split(sep).join('/');
    const { importedFiles } = ts.preProcessFile(readFileSync(path, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue; // packages and node: built-ins are not layers
      const to = relative(srcDir, resolve(dirname(path), fileName)).split(sep).join('/');
      if (!arrows.some((arrow) => arrow.from === from && arrow.to === to)) arrows.push({ from, to });
    }
  }
  return arrows;
}

/** Strongly connected components with more than one file (or a file importing itself), Tarjan's way. */
export function cyclesOf(arrows: readonly ImportArrow[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of arrows) next.set(from, [...(next.get(from) ?? []), to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const target of next.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, index.get(target)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    const selfImport = next.get(node)?.includes(node) ?? false;
    if (component.length > 1 || selfImport) cycles.push(component.sort());
  };
  for (const node of next.keys()) if (!index.has(node)) visit(node);
  return cycles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

export function checkLayers(arrows: readonly ImportArrow[]): LayerReport {
  const upward = arrows.filter(({ from, to }) => layerOf(to) > layerOf(from));
  const crossing = arrows.filter(({ from, to }) => unitOf(from) !== unitOf(to));
  const folderPairs = new Set(crossing.map(({ from, to }) => `${unitOf(from)} ${unitOf(to)}`));
  const folderCycles: [string, string][] = [];
  for (const pair of folderPairs) {
    const [a, b] = pair.split(' ') as [string, string];
    const sameLayer = layerOf(`${a}/`) === layerOf(`${b}/`); // across layers, the upward half is reported already
    if (a < b && sameLayer && folderPairs.has(`${b} ${a}`)) folderCycles.push([a, b]);
  }
  return { upward, fileCycles: cyclesOf(arrows), folderCycles: folderCycles.sort() };
}

function main(): number {
  const srcDir = fileURLToPath(new URL('../src', import.meta.url));
  const arrows = readArrows(srcDir);
  const { upward, fileCycles, folderCycles } = checkLayers(arrows);
  for (const { from, to } of upward) {
    console.log(`upward import: ${from} -> ${to} (layer ${layerOf(from)} -> ${layerOf(to)})`);
  }
  for (const [a, b] of folderCycles) {
    const between = arrows.filter(({ from, to }) => [a, b].includes(unitOf(from)) && [a, b].includes(unitOf(to)) && unitOf(from) !== unitOf(to));
    console.log(`folder cycle: ${a}/ <-> ${b}/ (${between.map(({ from, to }) => `${from} -> ${to}`).join(', ')})`);
  }
  for (const cycle of fileCycles) console.log(`file cycle: ${cycle.join(' <-> ')}`);
  const problems = upward.length + folderCycles.length + fileCycles.length;
  console.log(`${arrows.length} imports between ${new Set(arrows.flatMap((a) => [a.from, a.to])).size} files: ${problems === 0 ? 'every one points down' : `${problems} problem(s)`}`);
  return problems === 0 ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main();
