/**
 * Pushing chosen images into a registry: each name is mapped onto the target (under a
 * REGISTRY[/PREFIX], by --replace-prefix rules, or one image under one reference), the images are
 * grouped by target repository, and each group is one copy into a RegistrySink. One PushSession
 * lets later repositories mount blobs that earlier ones received.
 */
import { invalid, usage } from '../errors.js';
import { PushSession, RegistrySink, type PushOptions } from '../formats/registry/registry-sink.js';
import { formatFull, parseReference, parseReferenceOrThrow, repositoryOf } from '../model/reference.js';
import { copy, type CopyOptions, type CopyReport } from './copy.js';
import type { Plan, PlanRoot } from './plan.js';
import { newName, type PrefixRule } from './rename.js';
import { cosignTagSubject } from '../model/referrers.js';

export type PushTarget =
  /** Every image under its own path: REGISTRY[/PREFIX] and/or rename rules. */
  | { kind: 'prefix'; to?: string; rules: PrefixRule[] }
  /** The one chosen image under this reference. */
  | { kind: 'reference'; name: string };

export interface PushedRepository {
  repository: string;
  names: string[];
  /** Signatures, attestations, SBOMs and referrers put beside the images. */
  attached: number;
  uploaded: number;
  mounted: number;
  present: number;
  bytesUploaded: number;
}

export interface PushReport extends CopyReport {
  pushed: PushedRepository[];
}

/** `docker://HOST[/PREFIX]/` (trailing slash) is a prefix; any other `docker://REF` names one image. */
export function pushTargetOf(spec: string): PushTarget {
  const rest = spec.slice('docker://'.length);
  if (rest.endsWith('/') || !rest.includes('/')) return { kind: 'prefix', to: rest.replace(/\/+$/, ''), rules: [] };
  return { kind: 'reference', name: newName(rest) };
}

/** Where a name goes: by a prefix rule, else the same repository path under `to`. */
export function targetName(name: string, to: string | undefined, rules: PrefixRule[]): string {
  const rule = rules.find((r) => name.startsWith(r.from));
  if (rule) return formatFull(parseReferenceOrThrow(rule.to + name.slice(rule.from.length)));
  if (!to) throw usage('usage', 'give --to REGISTRY[/PREFIX] or --replace-prefix OLD=NEW');
  const ref = parseReference(name);
  return formatFull(parseReferenceOrThrow(`${to.replace(/\/+$/, '')}/${ref.path}:${ref.tag ?? 'latest'}`));
}

export interface PushPlanOptions extends PushOptions, Pick<CopyOptions, 'onProgress' | 'zstdLevel'> {
  /** Layer compression of what is pushed (default: as the source has it). */
  layers?: CopyOptions['layers'];
  onUnnamed?: () => void;
  /** Runs with the target repositories before anything is sent (a delta checks its base there). */
  prepare?: (repositories: string[]) => Promise<void>;
}

export async function pushPlan(plan: Plan, target: PushTarget, opts: PushPlanOptions = {}): Promise<PushReport> {
  const byRepo = groupByRepository(plan.roots.filter((r) => r.node.kind !== 'artifact'), target, opts.onUnnamed);
  const artifacts = plan.roots.filter((r) => r.node.kind === 'artifact');
  const warnings: string[] = [];
  if (artifacts.length && opts.layers && opts.layers !== 'keep') {
    warnings.push(`${artifacts.length} signatures, attestations or SBOMs left out: recompressed layers change the manifests they name`);
  } else {
    attachArtifacts(byRepo, artifacts);
  }
  await opts.prepare?.([...byRepo.keys()]);
  const session = opts.session ?? new PushSession();
  const report: PushReport = { images: 0, blobsWritten: 0, bytesWritten: 0, bytesDeduplicated: 0, changedManifests: [], platformChoices: [], warnings, pushed: [] };
  let bytesBefore = 0;
  const sinks: RegistrySink[] = [];
  for (const [repo, roots] of byRepo) {
    const sink = new RegistrySink(repo, { ...opts, session, holdTags: true });
    sinks.push(sink);
    const r = await copy({ roots }, sink, { layers: opts.layers ?? 'keep', zstdLevel: opts.zstdLevel, onProgress: opts.onProgress && ((e) => opts.onProgress!({ ...e, bytes: bytesBefore + e.bytes })) });
    bytesBefore += r.bytesWritten;
    report.images += r.images;
    report.blobsWritten += sink.pushed.length;
    report.bytesWritten += sink.bytesUploaded;
    report.changedManifests.push(...r.changedManifests);
    for (const w of r.warnings) if (!report.warnings.includes(w)) report.warnings.push(w);
    report.pushed.push({ repository: repo, names: roots.filter((x) => x.node.kind !== 'artifact').flatMap((x) => x.names), attached: roots.filter((x) => x.node.kind === 'artifact').length, uploaded: sink.pushed.length, mounted: sink.mounted.length, present: sink.skipped, bytesUploaded: sink.bytesUploaded });
  }
  // Every blob and manifest of every repository is in; the names come last, all together.
  for (const sink of sinks) await sink.publishTags();
  return report;
}

/**
 * Each artifact goes to every repository that receives the manifest it refers to (and, in turn,
 * what refers to it: a signature of an attestation). A cosign artifact keeps its tag
 * (`sha256-<hex>.sig`) in that repository, as cosign names it; an OCI referrer is put by digest.
 */
function attachArtifacts(byRepo: Map<string, PlanRoot[]>, artifacts: PlanRoot[]): void {
  for (const [repo, roots] of byRepo) {
    const held = new Set<string>();
    for (const r of roots) for (const d of manifestDigests(r)) held.add(d);
    for (let grew = true; grew;) {
      grew = false;
      for (const a of artifacts) {
        if (a.node.kind !== 'artifact' || roots.includes(a) || held.has(a.node.descriptor.digest)) continue;
        const digest = a.node.descriptor.digest;
        const refersTo = a.source.catalog.artifacts.find((x) => x.digest === digest)?.refersTo;
        if (!refersTo || !held.has(refersTo)) continue;
        const tags = a.names.map((n) => cosignTagSubject(n) && parseReference(n).tag).filter((t): t is string => !!t);
        roots.push({ ...a, names: [...new Set(tags)].map((t) => `${repo}:${t}`) });
        held.add(digest);
        grew = true;
      }
    }
  }
}

/** The manifest digests a root puts in a registry: its own, and an index's children. */
function manifestDigests(r: PlanRoot): string[] {
  const n = r.node;
  if (n.kind === 'manifest') return n.image.manifests.flatMap((m) => (m.digest ? [m.digest] : []));
  if (n.kind === 'index') return [n.index.digest, ...n.images.flatMap((i) => i.manifests.flatMap((m) => (m.digest && (!n.keep || n.keep.has(m.digest)) ? [m.digest] : [])))];
  return [n.descriptor.digest];
}

function groupByRepository(roots: PlanRoot[], target: PushTarget, onUnnamed?: () => void): Map<string, PlanRoot[]> {
  const byRepo = new Map<string, PlanRoot[]>();
  if (target.kind === 'reference') {
    const root = oneImage(roots);
    if (!root) throw invalid('ambiguous-image', `the selection holds ${roots.length} images; choose one with --image to push it under one name`, target.name);
    byRepo.set(repositoryOf(parseReference(target.name)), [{ ...root, names: [target.name] }]);
    return byRepo;
  }
  for (const root of roots) {
    if (root.names.length === 0) onUnnamed?.();
    for (const name of root.names) {
      const to = targetName(name, target.to, target.rules);
      const repo = repositoryOf(parseReference(to));
      const list = byRepo.get(repo) ?? [];
      const same = list.find((r) => r.node === root.node);
      if (same) same.names.push(to);
      else list.push({ ...root, names: [to] });
      byRepo.set(repo, list);
    }
  }
  return byRepo;
}

/** The one root to push under one name: the only root, or an image that every root is just a view of. */
function oneImage(roots: PlanRoot[]): PlanRoot | undefined {
  if (roots.length === 1) return roots[0];
  const imagesOf = (r: PlanRoot) => (r.node.kind === 'manifest' ? [r.node.image] : r.node.kind === 'index' ? r.node.images : []);
  return roots.find((r) => r.node.kind === 'manifest' && roots.every((o) => imagesOf(o).every((i) => i === imagesOf(r)[0])));
}
