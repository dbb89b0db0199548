/**
 * Name changes on a plan, as `docker tag` / `docker rmi NAME` would make them, and bulk prefix
 * rewrites for mirrors. Pure functions over plan roots: the copy engine writes the result.
 */
import { cosignTagSubject } from '../model/referrers.js';
import { invalid, usage } from '../errors.js';
import type { ArchiveSource } from '../formats/source.js';
import type { ImageRecord } from '../model/catalog.js';
import { familiarName, formatFull, parseReferenceOrThrow, tryParseReference } from '../model/reference.js';
import { matchImages } from './select.js';
import { rootsOf, type PlanRoot } from './plan.js';

/** Full reference of a name given on the command line (a tag is added; digests are refused). */
export function newName(input: string): string {
  const ref = parseReferenceOrThrow(input);
  if (ref.digest) throw usage('bad-reference', 'a name to write cannot hold a digest (docker rejects digest references in RepoTags)', input);
  return formatFull(ref);
}

/** `tag SOURCE SRC_REF NEW_REF...`: every new name points at the image(s) SRC_REF names. */
export function tagRoots(source: ArchiveSource, srcRef: string, newRefs: string[]): PlanRoot[] {
  const names = newRefs.map(newName);
  const matched = matchImages(source.catalog, srcRef);
  if (matched.length === 0) throw invalid('no-such-image', `no image in ${source.display} matches ${srcRef}`, srcRef);
  const roots = rootsOf(source);
  // A name moves, as with docker tag: it leaves whatever root held it.
  for (const r of roots) r.names = r.names.filter((n) => !names.includes(n));
  const set = new Set<ImageRecord>(matched);
  const holder = roots.find((r) => sameImages(r, set));
  if (holder) {
    holder.names.push(...names);
    return roots;
  }
  if (matched.length > 1) {
    throw invalid('ambiguous-image', `${srcRef} matches ${matched.length} images that no single entry holds; name one by its ID`, srcRef);
  }
  const img = matched[0];
  roots.push({ source, node: { kind: 'manifest', image: img, manifest: img.manifests[0] }, names });
  return roots;
}

function sameImages(r: PlanRoot, set: Set<ImageRecord>): boolean {
  const imgs = r.node.kind === 'manifest' ? [r.node.image] : r.node.kind === 'index' ? r.node.images : [];
  return imgs.length === set.size && imgs.every((i) => set.has(i));
}

/** `untag SOURCE REF...`: the names go; the images stay (unnamed) so nothing is lost. */
export function untagRoots(source: ArchiveSource, refs: string[]): { roots: PlanRoot[]; unnamed: string[] } {
  const names = refs.map(newName);
  const roots = rootsOf(source);
  const present = new Set(roots.flatMap((r) => r.names));
  for (const n of names) if (!present.has(n)) throw invalid('no-such-name', `no image in ${source.display} is named ${familiarName(n)}`, n);
  const unnamed: string[] = [];
  for (const r of roots) {
    const before = r.names.length;
    r.names = r.names.filter((n) => !names.includes(n));
    if (before > 0 && r.names.length === 0 && r.node.kind !== 'artifact') unnamed.push(r.node.kind === 'manifest' ? r.node.image.id : r.node.index.digest);
  }
  return { roots, unnamed };
}

export interface PrefixRule {
  from: string;
  to: string;
}

/** `OLD=NEW`, both non-empty; compared against full references. */
export function parsePrefixRule(rule: string): PrefixRule {
  const eq = rule.indexOf('=');
  if (eq <= 0 || eq === rule.length - 1) throw usage('bad-prefix', 'a prefix rule is OLD=NEW, e.g. docker.io/library/=registry.local:5000/library/', rule);
  return { from: rule.slice(0, eq), to: rule.slice(eq + 1) };
}

/** Renames every name that starts with a rule's prefix (first matching rule wins). */
export function retagRoots(source: ArchiveSource, rules: PrefixRule[]): { roots: PlanRoot[]; renamed: { from: string; to: string }[] } {
  const roots = rootsOf(source);
  const renamed: { from: string; to: string }[] = [];
  for (const r of roots) {
    r.names = r.names.map((n) => {
      const rule = rules.find((x) => n.startsWith(x.from));
      if (!rule) return n;
      const candidate = rule.to + n.slice(rule.from.length);
      const ref = tryParseReference(candidate);
      if (!ref || ref.digest) throw usage('bad-reference', `renaming ${familiarName(n)} gives "${candidate}", which is not a valid reference`, candidate);
      const full = formatFull(ref);
      renamed.push({ from: n, to: full });
      return full;
    });
  }
  // As --image nosuch: a retag that renames nothing is a mistake (a prefix without its registry,
  // docker.io/ for busybox), not an output to write.
  if (renamed.length === 0) {
    const names = roots.flatMap((r) => r.names).filter((n) => !cosignTagSubject(n));
    throw invalid('no-match', `no name matches ${rules.map((r) => r.from).join(' or ')}; the names are ${names.join(', ') || 'none'} (full references: name the registry)`, source.display);
  }
  const all = roots.flatMap((r) => r.names);
  const dup = all.find((n, i) => all.indexOf(n) !== i);
  if (dup && roots.filter((r) => r.names.includes(dup)).length > 1) throw invalid('name-conflict', `after renaming, ${familiarName(dup)} would name two different images`, dup);
  return { roots, renamed };
}
