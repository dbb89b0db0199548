/** `inspect`: what a source holds, as plain data (the CLI prints it as a table or as JSON). */
import type { ArchiveSource } from '../formats/source.js';
import type { ImageRecord, Problem } from '../model/catalog.js';
import { formatPlatform, type HistoryEntry, type Platform } from '../model/oci.js';
import { selectImages } from './select.js';

export interface LayerReport {
  digest: string;
  diffId: string | null;
  size: number;
  mediaType: string;
  createdBy?: string;
}

export interface ImageReport {
  id: string;
  repoTags: string[];
  refNames: string[];
  manifestDigests: string[];
  platform: Platform | null;
  created: string | null;
  /** Bytes as stored: the config plus each distinct layer blob of the first manifest. */
  size: number;
  layers: LayerReport[];
  history: HistoryEntry[];
  author?: string;
  config: Record<string, unknown>;
}

export interface InspectReport {
  source: string;
  format: string;
  compression: string;
  images: ImageReport[];
  artifacts: { digest: string; kind: string; mediaType: string; artifactType?: string; platform: Platform | null; refersTo?: string; size: number }[];
  indexes: { digest: string; mediaType: string; manifests: { digest: string; platform: string; present: boolean }[] }[];
  shared: { layers: { digest: string; size: number; images: string[] }[]; savedBytes: number };
  problems: Problem[];
  warnings: Problem[];
}

export function inspectSource(source: ArchiveSource, imageRefs?: string[]): InspectReport {
  const cat = source.catalog;
  const images = selectImages(cat, imageRefs, source.display);
  const reports = images.map(imageReport);
  const owners = new Map<string, { size: number; images: Set<string> }>();
  for (const img of reports) {
    for (const l of img.layers) {
      const o = owners.get(l.digest) ?? { size: l.size, images: new Set<string>() };
      o.images.add(img.id);
      owners.set(l.digest, o);
    }
  }
  const sharedLayers = [...owners.entries()].filter(([, o]) => o.images.size > 1).map(([digest, o]) => ({ digest, size: o.size, images: [...o.images] }));
  return {
    source: source.display,
    format: cat.format,
    compression: source.compression,
    images: reports,
    artifacts: cat.artifacts.map((a) => ({ digest: a.digest, kind: a.kind, mediaType: a.mediaType, artifactType: a.artifactType, platform: a.platform ?? null, refersTo: a.refersTo, size: a.size })),
    indexes: cat.indexes.map((i) => ({ digest: i.digest, mediaType: i.mediaType, manifests: i.children.map((c) => ({ digest: c.descriptor.digest, platform: formatPlatform(c.descriptor.platform), present: c.present })) })),
    shared: { layers: sharedLayers, savedBytes: sharedLayers.reduce((n, l) => n + l.size * (l.images.length - 1), 0) },
    problems: cat.findings.problems,
    warnings: cat.findings.warnings,
  };
}

function imageReport(i: ImageRecord): ImageReport {
  const manifest = i.manifests[0];
  const layers = manifest?.layers ?? [];
  const history = Array.isArray(i.config.json.history) ? i.config.json.history : [];
  // History entries with empty_layer made no layer: skip them when pairing history with layers.
  const layerHistory = history.filter((h) => !h.empty_layer);
  const distinct = new Map(layers.map((l) => [l.descriptor.digest, l.descriptor.size]));
  return {
    id: i.id,
    repoTags: i.repoTags,
    refNames: i.refNames,
    manifestDigests: i.manifests.flatMap((m) => (m.digest ? [m.digest] : [])),
    platform: i.platform ?? null,
    created: typeof i.config.json.created === 'string' ? i.config.json.created : null,
    size: i.config.descriptor.size + [...distinct.values()].reduce((a, b) => a + b, 0),
    layers: layers.map((l, n) => ({
      digest: l.descriptor.digest,
      diffId: l.diffId ?? null,
      size: l.descriptor.size,
      mediaType: l.descriptor.mediaType,
      ...(layerHistory.length === layers.length && layerHistory[n]?.created_by ? { createdBy: layerHistory[n].created_by } : {}),
    })),
    history,
    ...(typeof i.config.json.author === 'string' ? { author: i.config.json.author } : {}),
    config: (i.config.json.config as Record<string, unknown>) ?? {},
  };
}
