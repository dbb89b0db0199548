/**
 * find-images: the image references that Kubernetes manifests, rendered Helm output, kustomizations
 * and compose files name. A path is a file, `-` (standard input: `helm template ... | imgpack
 * find-images -`), a directory holding a kustomization (built as `kubectl kustomize` would, as far
 * as images go), or any other directory (searched for *.yaml and *.yml; subdirectories that are
 * kustomizations are built as such, Helm chart directories are reported as unrendered).
 * Problems in one file or document do not stop the others: they come back with their file and line.
 */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fromSystemError, usage } from '../errors.js';
import { formatFull, tryParseReference } from '../model/reference.js';
import { manifestImages, readManifestBytes, readStreamLimited, type ReadContext } from './manifests/reader.js';
import { isKustomizationFile, kustomizationFileOf, kustomizeImages } from './manifests/kustomize.js';
import { TEMPLATE_HINT } from './manifests/templates.js';
import { emptyFindings, pathKind, type Findings, type FoundLocation, type ImageSite } from './manifests/sites.js';

export type { FoundLocation };

export interface FindImagesOptions {
  /** Values for compose's `${VAR}` (default: process.env); a `.env` beside the file fills the rest. */
  env?: Record<string, string | undefined>;
  /** What `-` reads (default: process.stdin). */
  stdin?: NodeJS.ReadableStream;
}

export interface FoundReference {
  /** As written (after kustomize's `images:` and compose's variables, when those apply). */
  reference: string;
  /** Normalised by docker's rules, full (`docker.io/library/redis:7`); "" when the reference is not one. */
  normalized: string;
  locations: FoundLocation[];
}

export interface FindProblem {
  file: string;
  line?: number;
  document?: number;
  message: string;
  code: string;
  /** `error` (exit 1: something could not be read, or a reference is unusable) or `warning`. */
  severity?: 'error' | 'warning';
}

export interface FindImagesResult {
  /** Each reference once, sorted (by code point, as written). */
  references: FoundReference[];
  problems: FindProblem[];
}

/** The image references of manifests at `paths` (`-` reads standard input). */
export async function findImages(paths: string[], options: FindImagesOptions = {}): Promise<FindImagesResult> {
  const ctx: ReadContext = { env: options.env ?? process.env };
  const out = emptyFindings();
  for (const path of paths) {
    if (path === '-') await readStdin(options.stdin ?? process.stdin, ctx, out);
    else await readPath(path, ctx, out);
  }
  return collect(out);
}

async function readStdin(stdin: NodeJS.ReadableStream, ctx: ReadContext, out: Findings): Promise<void> {
  if ((stdin as { isTTY?: boolean }).isTTY) throw usage('stdin-terminal', 'standard input is a terminal: pipe manifests in (helm template CHART | imgpack find-images -)', '-');
  const bytes = await readStreamLimited(stdin, '-', out);
  if (bytes) await manifestImages(bytes, '-', undefined, 'any', ctx, out);
}

async function readPath(path: string, ctx: ReadContext, out: Findings): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw fromSystemError(e, path);
  }
  if (st.isDirectory()) return readDirectory(path, ctx, out, true);
  if (isKustomizationFile(path)) return kustomizeImages(dirname(path), dirname(path), ctx, out);
  const bytes = await readManifestBytes(path, path, out);
  if (bytes) await manifestImages(bytes, path, dirname(path), 'any', ctx, out);
}

/** Searched depth-first in name order; symbolic links to directories are not followed (no loops). */
async function readDirectory(dir: string, ctx: ReadContext, out: Findings, top: boolean): Promise<void> {
  if (await kustomizationFileOf(dir, { sites: [], problems: [] }, dir)) return kustomizeImages(dir, dir, ctx, out);
  if ((await pathKind(join(dir, 'Chart.yaml'))) === 'file') {
    out.problems.push({ file: join(dir, 'Chart.yaml'), code: 'helm-chart', severity: 'error', message: `a Helm chart, whose templates are not rendered: ${TEMPLATE_HINT}` });
    return;
  }
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (top) throw fromSystemError(e, dir);
    out.problems.push({ file: dir, code: 'manifest-unreadable', severity: 'error', message: `cannot read the directory: ${fromSystemError(e, dir).message}` });
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!entry.name.startsWith('.')) await readDirectory(path, ctx, out, false); // .git and the like hold no manifests
    } else if (/\.ya?ml$/i.test(entry.name) && (entry.isFile() || (entry.isSymbolicLink() && (await pathKind(path)) === 'file'))) {
      const bytes = await readManifestBytes(path, path, out);
      if (bytes) await manifestImages(bytes, path, dir, 'any', ctx, out);
    }
  }
}

/** One entry per reference, sorted; locations in the order found. */
function collect(out: Findings): FindImagesResult {
  const byReference = new Map<string, FoundReference>();
  for (const site of out.sites) {
    let ref = byReference.get(site.image);
    if (!ref) {
      ref = { reference: site.image, normalized: site.unresolved ? '' : normalize(site.image), locations: [] };
      byReference.set(site.image, ref);
    }
    ref.locations.push(locationOf(site));
  }
  const references = [...byReference.values()].sort((a, b) => (a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0));
  for (const ref of references) {
    if (ref.normalized === '' && !out.sites.some((s) => s.image === ref.reference && s.unresolved)) {
      const at = ref.locations[0];
      out.problems.push({ file: at.file, line: at.line, document: at.document, code: 'invalid-reference', severity: 'error', message: `not a valid image reference: ${ref.reference}` });
    }
  }
  const problems = out.problems.map(({ file, line, document, message, code, severity }) => ({ file, line, document, message, code, severity }));
  return { references, problems };
}

function normalize(reference: string): string {
  const parsed = tryParseReference(reference);
  return parsed ? formatFull(parsed) : '';
}

const LOCATION_KEYS = ['file', 'document', 'line', 'kind', 'name', 'container', 'field'] as const;

/** The public part of a site, in a fixed key order, without undefined fields; `written` only when it differs. */
function locationOf(site: ImageSite): FoundLocation {
  const location: Record<string, unknown> = {};
  for (const key of LOCATION_KEYS) if (site[key] !== undefined) location[key] = site[key];
  if (site.written !== site.image) location.written = site.written;
  if (site.kustomization !== undefined) location.kustomization = site.kustomization;
  return location as unknown as FoundLocation;
}
