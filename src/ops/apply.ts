/**
 * `apply`: a delta bundle plus the blobs this side already has (the base: the store or archives)
 * give back the complete archive, for tools that need one: the same manifests, configs and layers,
 * so the same image IDs and manifest digests as the archive the delta was cut from.
 */
import { invalid } from '../errors.js';
import type { ArchiveSource } from '../formats/source.js';
import type { CopyReport } from './copy.js';
import { rootsOf } from './plan.js';
import { baseLacks } from './verify.js';
import { writePlan, type ResolvedOutput } from './write.js';

export async function applyDelta(delta: ArchiveSource, base: ArchiveSource[], out: ResolvedOutput, opts: { spaceCheck?: boolean; onProgress?: (e: { bytes: number; current: string }) => void } = {}): Promise<CopyReport> {
  const marker = delta.catalog.delta;
  if (!marker) throw invalid('not-a-delta', 'not a delta bundle (no imgpack-delta.json): it is complete as it is', delta.display);
  const lacking = baseLacks(marker.omitted.map((o) => o.digest), base);
  if (lacking.length) {
    throw invalid('delta-incomplete', `the base lacks ${lacking.length} blob${lacking.length === 1 ? '' : 's'} the delta left out: ${lacking.slice(0, 8).join(', ')}${lacking.length > 8 ? ', ...' : ''}; nothing was written`, base.map((b) => b.display).join(', '));
  }
  // Layers are kept as they are: recompressing would change the digests the delta promises.
  return writePlan({ roots: rootsOf(delta) }, out, { layers: 'keep', fill: base, spaceCheck: opts.spaceCheck, onProgress: opts.onProgress });
}
