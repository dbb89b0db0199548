#!/usr/bin/env node
/**
 * The import graph between imgpack's layers (the folders of src/), and the imports that break
 * the one-way rule: model < io < formats < ops < serve < cli (a lower layer never imports a
 * higher one), plus import cycles between files. `node scripts/import-graph.mjs` prints the
 * graph; `--check` exits 1 when a rule is broken (test/unit/layers.test.ts runs the same check).
 *
 * Type-only imports count too: a type that a lower layer needs belongs in that layer.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Lowest first. errors.ts and version.ts sit under everything; index.ts (the library API) over ops and serve. */
export const LAYERS = ['base', 'model', 'io', 'formats', 'ops', 'serve', 'api', 'cli'];

/** src/testing builds test images for tests and the bench; only tests import it. */
const OUTSIDE = new Set(['testing']);

export function layerOf(file) {
  const [top] = file.split('/');
  if (top === 'errors.ts' || top === 'version.ts') return 'base';
  if (top === 'index.ts') return 'api';
  return top;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.ts$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every relative import between files of src/, as { from, to } paths relative to src/. */
export function importsOf(srcDir) {
  const edges = [];
  for (const abs of walk(srcDir)) {
    const from = relative(srcDir, abs);
    const text = readFileSync(abs, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (!spec.startsWith('.')) continue;
      const to = relative(srcDir, resolve(dirname(abs), spec)).replace(/\.js$/, '.ts');
      edges.push({ from, to });
    }
  }
  return edges;
}

function cycles(edges) {
  const next = new Map();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const found = [];
  const state = new Map(); // 1 = on the current path, 2 = done
  const path = [];
  const visit = (n) => {
    state.set(n, 1);
    path.push(n);
    for (const m of next.get(n) ?? []) {
      if (state.get(m) === 1) found.push([...path.slice(path.indexOf(m)), m]);
      else if (!state.get(m)) visit(m);
    }
    path.pop();
    state.set(n, 2);
  };
  for (const n of next.keys()) if (!state.get(n)) visit(n);
  return found;
}

export function checkLayers(srcDir) {
  const edges = importsOf(srcDir);
  const upward = edges.filter(({ from, to }) => {
    const a = layerOf(from);
    const b = layerOf(to);
    if (OUTSIDE.has(b)) return !OUTSIDE.has(a);
    if (OUTSIDE.has(a)) return false;
    return LAYERS.indexOf(b) > LAYERS.indexOf(a);
  });
  const counts = new Map();
  for (const { from, to } of edges) {
    const key = `${layerOf(from)} -> ${layerOf(to)}`;
    if (layerOf(from) !== layerOf(to)) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return { edges, upward, cycles: cycles(edges), counts };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const src = resolve(dirname(fileURLToPath(import.meta.url)), '../src');
  const { upward, cycles: loops, counts } = checkLayers(src);
  console.log(`imports between layers (${LAYERS.join(' < ')}):`);
  const order = (k) => k.split(' -> ').map((l) => LAYERS.indexOf(l));
  for (const [k, n] of [...counts].sort(([a], [b]) => order(b)[0] - order(a)[0] || order(b)[1] - order(a)[1])) console.log(`  ${k.padEnd(22)} ${n}`);
  for (const e of upward) console.log(`UPWARD  ${e.from} -> ${e.to}`);
  for (const c of loops) console.log(`CYCLE   ${c.join(' -> ')}`);
  if (!upward.length && !loops.length) console.log('no upward imports, no cycles');
  if (process.argv.includes('--check') && (upward.length || loops.length)) process.exit(1);
}
