/**
 * A kustomization directory read as `kubectl kustomize` builds it, as far as images go:
 * `resources` (and the old `bases`): files, and directories that are kustomizations themselves
 * (built on their own first, their `images:` applied), then `components` (each adds its resources
 * to the ones gathered so far and applies its `images:` to all of them), then this
 * kustomization's `images:` (and the old `imageTags`), entry by entry, as kustomize's image tag
 * transformer does: a name matches an image that is that name followed by an optional `:tag` and
 * `@digest`; newName replaces the name; newTag, digest, or both replace tag and digest.
 * Fields that could change images in other ways (patches, replacements, helmCharts, plugins) are
 * not applied: each is reported as a warning.
 */
import { realpath, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Node } from 'yaml';
import { YamlTree } from './yaml-tree.js';
import { manifestImages, readManifestBytes, type ReadContext } from './reader.js';
import { pathKind, type Findings, type ImageSite } from './sites.js';

/** kustomize's recognised names, in the order it looks for them. */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** Fields of a kustomization that can change images but are not applied here. */
const NOT_APPLIED = ['patches', 'patchesStrategicMerge', 'patchesJson6902', 'replacements', 'helmCharts', 'helmChartInflationGenerator', 'generators', 'transformers', 'configurations', 'crds'];
/** Deeper than this is a loop kustomize would refuse too. */
const MAX_NESTING = 64;

interface ImageTag {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
  tagSuffix?: string;
}

/** The kustomization file of a directory, or undefined; more than one is kustomize's error too. */
export async function kustomizationFileOf(dir: string, out: Findings, display: string): Promise<string | undefined> {
  const found: string[] = [];
  for (const name of KUSTOMIZATION_FILES) {
    try {
      if ((await stat(join(dir, name))).isFile()) found.push(name);
    } catch {
      // absent
    }
  }
  if (found.length > 1) {
    out.problems.push({ file: display, code: 'kustomize-ambiguous', severity: 'error', message: `found more than one kustomization file (${found.join(', ')}): kustomize refuses this too` });
  }
  return found[0];
}

/**
 * The images of the kustomization in `dir` (`display` is how paths are shown). Sites are added
 * to `out`; `stack` holds the directories being built (a cycle is an error).
 */
export async function kustomizeImages(dir: string, display: string, ctx: ReadContext, out: Findings): Promise<void> {
  const sites: ImageSite[] = [];
  await build(dir, display, ctx, sites, out, [], false);
  out.sites.push(...sites);
}

async function build(dir: string, display: string, ctx: ReadContext, accumulated: ImageSite[], out: Findings, stack: string[], isComponent: boolean): Promise<void> {
  const name = await kustomizationFileOf(dir, out, display);
  if (!name) {
    out.problems.push({ file: display, code: 'kustomize-missing', severity: 'error', message: `no kustomization file (${KUSTOMIZATION_FILES.join(', ')}) in this directory` });
    return;
  }
  const file = join(dir, name);
  const fileDisplay = join(display, name);
  const real = await realpath(dir);
  if (stack.includes(real)) {
    out.problems.push({ file: fileDisplay, code: 'kustomize-cycle', severity: 'error', message: 'a cycle: this kustomization includes itself' });
    return;
  }
  if (stack.length >= MAX_NESTING) {
    out.problems.push({ file: fileDisplay, code: 'kustomize-depth', severity: 'error', message: `kustomizations nested more than ${MAX_NESTING} deep` });
    return;
  }
  const bytes = await readManifestBytes(file, fileDisplay, out);
  if (!bytes) return;
  // The kustomization itself is read as YAML (within the same limits), not for images.
  const docs = await manifestImages(bytes, fileDisplay, undefined, 'kubernetes', ctx, { sites: [], problems: out.problems }, true);
  if (docs.length === 0) return;
  const tree = new YamlTree(docs[0]);
  const root = tree.root;
  const kind = tree.string(tree.get(root, 'kind'));
  if (isComponent && kind !== 'Component') {
    out.problems.push({ file: fileDisplay, code: 'kustomize-not-component', severity: 'error', message: `listed as a component, but its kind is ${kind ?? 'Kustomization'}, not Component` });
    return;
  }
  if (!isComponent && kind === 'Component') {
    out.problems.push({ file: fileDisplay, code: 'kustomize-component', severity: 'error', message: 'a Component, listed as a resource (list it under components:)' });
    return;
  }
  for (const field of NOT_APPLIED) {
    const value = tree.get(root, field);
    if (value !== undefined && (tree.items(value).length > 0 || tree.entries(value).length > 0 || tree.string(value))) {
      out.problems.push({ file: fileDisplay, line: tree.line(value), code: 'kustomize-not-applied', severity: 'warning', message: `${field} is not applied by find-images: images it changes or adds are not seen` });
    }
  }
  const inner = [...stack, real];
  // A component adds to the caller's resources; a kustomization builds its own, then hands them up.
  const own: ImageSite[] = isComponent ? accumulated : [];
  for (const entry of [...strings(tree, tree.get(root, 'resources')), ...strings(tree, tree.get(root, 'bases'))]) {
    await addResource(entry, dir, display, real, fileDisplay, ctx, own, out, inner);
  }
  for (const entry of strings(tree, tree.get(root, 'components'))) {
    const path = resolve(dir, entry.value);
    if ((await pathKind(path)) !== 'directory') {
      out.problems.push({ file: fileDisplay, line: entry.line, code: looksRemote(entry.value) ? 'kustomize-remote' : 'kustomize-missing', severity: 'error', message: missingMessage('component', entry.value) });
      continue;
    }
    await build(path, join(display, entry.value), ctx, own, out, inner, true);
  }
  for (const tag of imageTags(tree, root, fileDisplay, out)) {
    for (const site of own) {
      if (site.unresolved) continue;
      for (let pass = 0; pass < (site.kustomizePasses ?? 0); pass++) applyImageTag(site, tag, fileDisplay);
    }
  }
  if (!isComponent) accumulated.push(...own);
}

async function addResource(entry: { value: string; line?: number }, dir: string, display: string, realRoot: string, fileDisplay: string, ctx: ReadContext, own: ImageSite[], out: Findings, stack: string[]): Promise<void> {
  const path = resolve(dir, entry.value);
  const shown = isAbsolute(entry.value) ? entry.value : join(display, entry.value);
  let st;
  try {
    st = await stat(path);
  } catch {
    out.problems.push({ file: fileDisplay, line: entry.line, code: looksRemote(entry.value) ? 'kustomize-remote' : 'kustomize-missing', severity: 'error', message: missingMessage('resource', entry.value) });
    return;
  }
  if (st.isDirectory()) {
    await build(path, shown, ctx, own, out, stack, false);
    return;
  }
  // kustomize's default load restrictor: resource files must lie in or below the kustomization's directory.
  const real = await realpath(path);
  const rel = relative(realRoot, real);
  if (rel.startsWith('..') || isAbsolute(rel) || rel.split(sep)[0] === '..') {
    out.problems.push({ file: fileDisplay, line: entry.line, code: 'kustomize-outside-root', severity: 'error', message: `resource ${entry.value} is not in or below the kustomization's directory (kustomize refuses it too)` });
    return;
  }
  const bytes = await readManifestBytes(path, shown, out);
  if (!bytes) return;
  const found: Findings = { sites: [], problems: out.problems };
  await manifestImages(bytes, shown, undefined, 'kubernetes', ctx, found);
  own.push(...found.sites);
}

function imageTags(tree: YamlTree, root: Node | undefined, fileDisplay: string, out: Findings): ImageTag[] {
  const tags: ImageTag[] = [];
  for (const field of ['images', 'imageTags']) {
    for (const item of tree.items(tree.get(root, field))) {
      const tag: Partial<ImageTag> = {};
      let refused = false;
      for (const key of ['name', 'newName', 'newTag', 'digest', 'tagSuffix'] as const) {
        const node = tree.get(item, key);
        if (node === undefined || (tree.resolve(node) as { value?: unknown }).value === null) continue;
        const value = tree.string(node);
        if (value === undefined) {
          // kustomize decodes these into strings through JSON: `newTag: 1.20` fails its build.
          out.problems.push({ file: fileDisplay, line: tree.line(node), code: 'kustomize-image-field', severity: 'error', message: `${field}: ${key} is not a string (kustomize refuses it too: quote it)` });
          refused = true;
        } else {
          tag[key] = value;
        }
      }
      if (refused) continue;
      if (!tag.name) {
        out.problems.push({ file: fileDisplay, line: tree.line(item), code: 'kustomize-image-name', severity: 'error', message: `an entry of ${field} has no name` });
        continue;
      }
      tags.push(tag as ImageTag);
    }
  }
  return tags;
}

/** kustomize's imageTagUpdater. */
export function applyImageTag(site: ImageSite, tag: ImageTag, kustomization: string): void {
  if (!isImageMatched(site.image, tag.name)) return;
  let [name, t, digest] = splitImage(site.image);
  if (tag.newName) name = tag.newName;
  if (tag.newTag && tag.digest) [t, digest] = [tag.newTag, tag.digest];
  else if (tag.newTag) [t, digest] = [tag.newTag, ''];
  else if (tag.digest) [t, digest] = ['', tag.digest];
  else if (tag.tagSuffix) [t, digest] = [t + tag.tagSuffix, ''];
  let image = name;
  if (t) image += ':' + t;
  if (digest) image += '@' + digest;
  if (image !== site.image) {
    site.image = image;
    site.kustomization = kustomization;
  }
}

/**
 * kustomize's image.IsImageMatched: the name is used as a regular expression (as kustomize does;
 * a name that is not one matches nothing), followed by an optional tag and an optional digest.
 */
export function isImageMatched(image: string, name: string): boolean {
  let pattern: RegExp;
  try {
    pattern = new RegExp(`^${name}(:[a-zA-Z0-9_.{}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{}-]*)?$`);
  } catch {
    return false;
  }
  return pattern.test(image);
}

/** kustomize's image.Split: name, tag, digest (the registry's port is not a tag). */
export function splitImage(image: string): [string, string, string] {
  const slash = image.indexOf('/');
  const offset = slash > 0 ? slash : 0;
  const search = image.slice(offset);
  let id = search.indexOf('@');
  let ic = search.indexOf(':');
  if (ic < 0 && id < 0) return [image, '', ''];
  if (id >= 0 && (id < ic || ic < 0)) {
    id += offset;
    return [image.slice(0, id), '', image.slice(id + 1)];
  }
  if (id >= 0 && ic >= 0) {
    id += offset;
    ic += offset;
    return [image.slice(0, ic), image.slice(ic + 1, id), image.slice(id + 1)];
  }
  ic += offset;
  return [image.slice(0, ic), image.slice(ic + 1), ''];
}

function strings(tree: YamlTree, node: Node | undefined): { value: string; line?: number }[] {
  return tree.items(node).map((n) => ({ value: tree.string(n) ?? '', line: tree.line(n) })).filter((e) => e.value !== '');
}

/** kustomize's remote targets: URLs, git@host:, and host/org/repo forms. */
function looksRemote(entry: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) || entry.startsWith('git@') || /^(github\.com|gitlab\.com|bitbucket\.org)\//.test(entry) || entry.includes('?ref=') || entry.includes('//');
}

function missingMessage(what: string, entry: string): string {
  return looksRemote(entry)
    ? `remote ${what} ${entry} not fetched (find-images reads local files only): its images are not listed`
    : `${what} ${entry} not found`;
}

export function isKustomizationFile(path: string): boolean {
  return KUSTOMIZATION_FILES.includes(basename(path));
}

