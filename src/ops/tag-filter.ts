/**
 * Tag filters of a set entry, applied to a registry's tag list (pure):
 * - `semver: RANGE`: tags that are versions (semver 2.0, a leading `v` allowed: v1.8.2) inside
 *   the range, with npm's semver rules (pre-releases such as 1.26.0-rc1 or 1.25.3-alpine only
 *   when the range names one of the same version); `1.25` or `1.25-alpine` are not versions.
 * - `regex: RE`: tags the regular expression matches (unanchored, as skopeo sync: write ^...$).
 * - `latest: N`: of the tags left, the N highest versions (tags that are not versions rank below
 *   them, in natural order, 1.9 < 1.10).
 * - a list of tags: exactly those (the registry is not asked for its tag list).
 * Filters combine: every one given must hold.
 */
import semver from 'semver';

export interface TagFilter {
  semver?: string;
  regex?: string;
  latest?: number;
  list?: string[];
}

/** Why a filter cannot be used, or undefined. */
export function checkTagFilter(f: TagFilter): string | undefined {
  if (f.semver !== undefined && semver.validRange(f.semver) === null) return `semver: "${f.semver}" is not a version range`;
  if (f.regex !== undefined) {
    try {
      new RegExp(f.regex);
    } catch (e) {
      return `regex: ${(e as Error).message}`;
    }
  }
  if (f.latest !== undefined && !(Number.isInteger(f.latest) && f.latest >= 1)) return 'latest: is a whole number of tags, 1 or more';
  return undefined;
}

/** A tag as a version: 1.8.2 and v1.8.2 are; 1.25, latest and 1.25-alpine are not. */
export function versionOf(tag: string): string | null {
  return semver.valid(tag.startsWith('v') ? tag.slice(1) : tag);
}

/** The tags the filter picks, highest version first. */
export function selectTags(tags: string[], f: TagFilter): string[] {
  if (f.list) return [...f.list];
  const regex = f.regex !== undefined ? new RegExp(f.regex) : undefined;
  let picked = tags.filter((t) => {
    if (regex && !regex.test(t)) return false;
    if (f.semver !== undefined) {
      const v = versionOf(t);
      if (!v || !semver.satisfies(v, f.semver)) return false;
    }
    return true;
  });
  picked = picked.sort(byVersionDescending);
  return f.latest !== undefined ? picked.slice(0, f.latest) : picked;
}

const natural = new Intl.Collator('en', { numeric: true });

/** Versions highest first, then the other tags in descending natural order. */
export function byVersionDescending(a: string, b: string): number {
  const va = versionOf(a);
  const vb = versionOf(b);
  if (va && vb) return semver.rcompare(va, vb) || natural.compare(b, a);
  if (va) return -1;
  if (vb) return 1;
  return natural.compare(b, a);
}
