/**
 * A sink is an output format: it decides where each blob goes and what metadata files describe
 * the images, and writes them through a TreeWriter. The copy engine drives every sink the same way:
 * putBlob for each blob (deduplicated here, by digest), then commit with the roots and entries.
 */
import type { Readable } from 'node:stream';
import type { DeltaMarker } from '../../model/delta.js';
import type { Descriptor } from '../../model/oci.js';
import type { FileRange } from '../../io/file-range.js';

export type { FileRange };

/**
 * A blob's bytes: in memory, a stream, or a byte range of a file on disk (the fast path: copied
 * with positional reads, each chunk shown to `tap` (hashing) and `done` called at the end, which
 * throws when what passed was not what was expected).
 */
export type BlobBytes = Buffer | Readable | AsyncIterable<Uint8Array> | FileRange;

export type OutputFormat = 'hybrid' | 'docker-archive' | 'oci-archive' | 'oci-layout' | 'store';

export interface BlobInfo {
  digest: string;
  size: number;
  mediaType: string;
  role: 'layer' | 'config' | 'manifest' | 'index' | 'blob';
  /** For layers: the chain ID at this position (docker-archive names its layer folders by it). */
  chainId?: string;
  parentChainId?: string;
  /**
   * A delta leaves this blob out: the sink returns the member path it would have had (manifest.json
   * still lists it) and writes no bytes; `open` is never called.
   */
  omit?: boolean;
}

/** What a sink writes at commit: index.json entries, manifest.json entries, a delta's marker. */
export interface CommitMeta {
  index: Descriptor[];
  docker: DockerEntry[];
  delta?: DeltaMarker;
}

/** One image as docker's manifest.json lists it. */
export interface DockerEntry {
  config: string;
  /** docker's familiar form (`busybox:latest`); null when the image has no name. */
  repoTags: string[] | null;
  layers: string[];
  /** The top layer's id for the legacy `repositories` file. */
  topLayerId?: string;
}

export interface Sink {
  readonly format: OutputFormat;
  /** Whether manifests and indexes are written (OCI-capable outputs). */
  readonly writesManifests: boolean;
  /** Whether docker's manifest.json is written (docker-archive, hybrid). */
  readonly writesDockerManifest: boolean;
  /** Writes a blob unless one with the same digest was written; returns its member path. */
  putBlob(info: BlobInfo, open: () => BlobBytes | Promise<BlobBytes>): Promise<string>;
  /** Writes the metadata and makes the output appear. */
  commit(meta: CommitMeta): Promise<void>;
  abort(): Promise<void>;
}
