/**
 * Reading values out of a parsed YAML document while keeping where they were written (the line of
 * an image is part of the answer). Aliases resolve to their anchored node; merge keys (`<<: *x`,
 * used by compose files) are honoured as PyYAML, go-yaml and compose do: a mapping's own keys
 * win, then the merged mappings in order; a repeated key keeps its last value.
 */
import { isAlias, isMap, isScalar, isSeq, visit, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import type { YamlDocument } from '../../io/yaml-stream.js';

/** Bounds the work of one document whatever its aliases make of it. */
const MAX_STEPS = 1_000_000;

export class YamlTree {
  private targets?: Map<Node, Node | undefined>;
  private steps = 0;

  constructor(readonly yaml: YamlDocument) {}

  get root(): Node | undefined {
    return this.resolve(this.yaml.doc.contents as Node | null);
  }

  /** A node with its alias followed (the last anchor of that name before the alias). */
  resolve(node: unknown): Node | undefined {
    this.step();
    if (node === null || node === undefined) return undefined;
    if (!isAlias(node)) return node as Node;
    this.targets ??= aliasTargets(this.yaml.doc);
    return this.targets.get(node);
  }

  /** The value of `key` in a mapping, or undefined (also when `node` is not a mapping). */
  get(node: Node | undefined, key: string): Node | undefined {
    const map = this.resolve(node);
    if (!isMap(map)) return undefined;
    return this.lookup(map, key, 0);
  }

  private lookup(map: YAMLMap, key: string, depth: number): Node | undefined {
    const items = map.items as Pair[];
    for (let i = items.length - 1; i >= 0; i--) {
      const k = items[i].key;
      if (isScalar(k) && String(k.value) === key && typeof k.value !== 'symbol') return this.resolve(items[i].value) ?? undefined;
    }
    if (depth > 16) return undefined;
    for (const pair of items) {
      if (!isMergeKey(pair.key)) continue;
      const value = this.resolve(pair.value);
      const sources = isSeq(value) ? value.items.map((v) => this.resolve(v)) : [value];
      for (const source of sources) {
        if (!isMap(source)) continue;
        const found = this.lookup(source, key, depth + 1);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  }

  /** A mapping's entries (merged ones included, own keys first), keys as strings. */
  entries(node: Node | undefined): [string, Node | undefined][] {
    const map = this.resolve(node);
    if (!isMap(map)) return [];
    const seen = new Set<string>();
    const out: [string, Node | undefined][] = [];
    const add = (m: YAMLMap, depth: number) => {
      for (const pair of m.items as Pair[]) {
        if (isMergeKey(pair.key)) continue;
        const k = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (k === undefined || seen.has(k)) continue;
        seen.add(k);
        out.push([k, this.lookup(map, k, 0)]);
      }
      if (depth > 16) return;
      for (const pair of m.items as Pair[]) {
        if (!isMergeKey(pair.key)) continue;
        const value = this.resolve(pair.value);
        for (const source of isSeq(value) ? value.items.map((v) => this.resolve(v)) : [value]) if (isMap(source)) add(source, depth + 1);
      }
    };
    add(map, 0);
    return out;
  }

  /** A sequence's items, aliases followed; [] when `node` is not a sequence. */
  items(node: Node | undefined): Node[] {
    const seq = this.resolve(node);
    if (!isSeq(seq)) return [];
    return seq.items.map((v) => this.resolve(v)).filter((v): v is Node => v !== undefined);
  }

  /** A scalar's value as a string when it is a string scalar, else undefined. */
  string(node: Node | undefined): string | undefined {
    const n = this.resolve(node);
    return isScalar(n) && typeof n.value === 'string' ? n.value : undefined;
  }

  /** The 1-based line in the stream where a node starts. */
  line(node: Node | undefined): number | undefined {
    const start = node?.range?.[0];
    return start === undefined ? undefined : this.yaml.lineOf(start);
  }

  private step(): void {
    if (++this.steps > MAX_STEPS) throw new TreeBudgetError();
  }
}

/** Thrown when a document's aliases make it too large to walk (caught per document). */
export class TreeBudgetError extends Error {
  constructor() {
    super(`the document's aliases expand beyond ${MAX_STEPS} steps`);
  }
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol' && key.value.description === '<<';
}

/** Every alias of a document and the node it names, found in one pass in document order. */
function aliasTargets(doc: Document): Map<Node, Node | undefined> {
  const anchors = new Map<string, Node>();
  const targets = new Map<Node, Node | undefined>();
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) targets.set(node, anchors.get(node.source));
      else if (node.anchor) anchors.set(node.anchor, node);
    },
  });
  // An alias of an alias is followed here once, so resolve() returns a real node.
  for (const [alias, target] of targets) {
    let t = target;
    for (let hops = 0; isAlias(t) && hops < 100; hops++) t = targets.get(t);
    targets.set(alias, isAlias(t) ? undefined : t);
  }
  return targets;
}
