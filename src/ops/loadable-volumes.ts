/**
 * `--loadable-volumes`: volumes that are each a complete archive of some of the images, so that
 * `docker load -i FILE.002` works on any one of them, with no imgpack on the far side. Images are
 * packed into volumes (largest first, each into the volume it grows least; a layer two images
 * share is written in each volume that holds one of them). Each volume is written by the one copy
 * engine like any archive, under a temporary name; the set appears as a byte-split set does
 * (publishVolumes), with a transfer manifest that marks it loadable and lists each volume's images.
 */
import { rmSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { invalid } from '../errors.js';
import { HashPool } from '../io/hash-pool.js';
import { checkFreeSpace } from '../io/output.js';
import { registerTemp, siblingTempName } from '../io/temp.js';
import { throwIfCancelled } from '../io/cancel.js';
import { publishVolumes, volumeName, type TransferManifest } from '../io/volumes.js';
import { familiarName } from '../model/reference.js';
import type { CopyOptions, CopyReport } from './copy.js';
import { estimateSize, transferInfo, type Plan, type PlanRoot } from './plan.js';
import type { ResolvedOutput } from './output-spec.js';

/** Writes one volume as an archive on its own (write.ts passes its single-output writer). */
export type WriteOne = (plan: Plan, out: ResolvedOutput, opts: CopyOptions & { spaceCheck?: boolean }) => Promise<CopyReport>;

/** What a volume costs beyond its blobs: tar headers and padding per member, the JSON files. */
const PER_BLOB = 2048;
const PER_VOLUME = 64 * 1024;

export async function writeLoadableVolumes(plan: Plan, out: ResolvedOutput, opts: CopyOptions & { spaceCheck?: boolean }, writeOne: WriteOne): Promise<CopyReport & { transfer: TransferManifest }> {
  const volumeSize = out.volumeSize!;
  const groups = packIntoVolumes(plan.roots, volumeSize);
  if (opts.spaceCheck !== false) await checkFreeSpace(out.target, groups.reduce((n, g) => n + estimateSize({ roots: g }), 0));
  const temps: { temp: string; release: () => void }[] = [];
  const report: CopyReport = { images: 0, blobsWritten: 0, bytesWritten: 0, bytesDeduplicated: 0, changedManifests: [], platformChoices: [], warnings: [] };
  try {
    for (const [i, roots] of groups.entries()) {
      const temp = siblingTempName(volumeName(out.target, i + 1));
      temps.push({ temp, release: registerTemp(temp) });
      const r = await writeOne({ roots }, { target: temp, format: out.format, compress: out.compress }, { ...opts, spaceCheck: false });
      const size = statSync(temp).size;
      if (size > volumeSize) throw invalid('volume-too-small', `volume ${i + 1} came out at ${size} bytes, over the volume size of ${volumeSize}: give a larger --volume-size`, volumeName(out.target, i + 1));
      report.images += r.images;
      report.blobsWritten += r.blobsWritten;
      report.bytesWritten += r.bytesWritten;
      report.bytesDeduplicated += r.bytesDeduplicated;
      report.changedManifests.push(...r.changedManifests);
      report.platformChoices.push(...r.platformChoices);
    }
    const { each, whole } = await hashVolumes(temps.map((t) => t.temp));
    const info = transferInfo(out, plan);
    const manifest: TransferManifest = {
      kind: 'imgpack-transfer', version: 1, ...info, loadable: true,
      volumes: temps.map((t, i) => ({
        name: basename(volumeName(out.target, i + 1)),
        size: statSync(t.temp).size,
        sha256: each[i],
        images: [...new Set(groups[i].flatMap(imageIdsOf))],
      })),
      size: temps.reduce((n, t) => n + statSync(t.temp).size, 0),
      sha256: whole,
    };
    throwIfCancelled(); // publishing is synchronous: the whole set appears, or nothing
    publishVolumes(out.target, temps.map((t) => t.temp), [], manifest);
    return { ...report, transfer: manifest };
  } catch (e) {
    for (const t of temps) rmSync(t.temp, { force: true });
    throw e;
  }
}

function imageIdsOf(root: PlanRoot): string[] {
  return root.node.kind === 'manifest' ? [root.node.image.id] : root.node.kind === 'index' ? root.node.images.map((i) => i.id) : [];
}

/**
 * Roots into volumes: largest first, each into the volume whose estimated size grows least and
 * stays within `volumeSize` (shared blobs count once per volume), else a new volume.
 */
export function packIntoVolumes(roots: PlanRoot[], volumeSize: number): PlanRoot[][] {
  const blobsOf = (r: PlanRoot) => {
    const m = new Map<string, number>();
    const images = r.node.kind === 'manifest' ? [r.node.image] : r.node.kind === 'index' ? r.node.images : [];
    for (const img of images) {
      m.set(img.id, img.config.raw.length);
      for (const man of img.manifests) for (const l of man.layers) m.set(l.descriptor.digest, l.descriptor.size);
    }
    return m;
  };
  const cost = (blobs: Map<string, number>) => PER_VOLUME + [...blobs.values()].reduce((n, s) => n + s + PER_BLOB, 0);
  const sized = roots.map((r) => ({ root: r, blobs: blobsOf(r) })).sort((a, b) => cost(b.blobs) - cost(a.blobs));
  const volumes: { roots: PlanRoot[]; blobs: Map<string, number> }[] = [];
  for (const { root, blobs } of sized) {
    if (cost(blobs) > volumeSize) {
      const name = root.names[0] ? familiarName(root.names[0]) : imageIdsOf(root)[0]?.slice(7, 19) ?? 'an artifact';
      throw invalid('image-too-big', `${name} needs about ${cost(blobs)} bytes, more than a volume of ${volumeSize}: a loadable volume holds whole images; give a larger --volume-size, or split volumes without --loadable-volumes`, name);
    }
    let best: (typeof volumes)[number] | undefined;
    let bestGrowth = Infinity;
    for (const v of volumes) {
      const union = new Map([...v.blobs, ...blobs]);
      const growth = cost(union) - cost(v.blobs);
      if (cost(union) <= volumeSize && growth < bestGrowth) {
        best = v;
        bestGrowth = growth;
      }
    }
    if (best) {
      best.roots.push(root);
      for (const [d, s] of blobs) best.blobs.set(d, s);
    } else {
      volumes.push({ roots: [root], blobs: new Map(blobs) });
    }
  }
  return volumes.map((v) => v.roots);
}

/** Each volume's sha256, and that of their bytes in order, on worker threads. */
async function hashVolumes(files: string[]): Promise<{ each: string[]; whole: string }> {
  const segments = files.map((path) => ({ path, start: 0, length: statSync(path).size }));
  const pool = HashPool.forWork(segments.reduce((n, s) => n + s.length, 0) * 2);
  try {
    const [whole, ...each] = await Promise.all([segments, ...segments.map((s) => [s])].map(async (segs) => {
      const r = await pool.run({ segments: segs, algorithms: ['sha256'] });
      if (r.error || !r.stored.sha256) throw new Error(r.error ?? 'hashing failed');
      return r.stored.sha256;
    }));
    return { each, whole };
  } finally {
    await pool.close();
  }
}
