/**
 * OCI image layout outputs: `oci-layout` (a directory), `oci-archive` (the same tree in a tar),
 * and `hybrid` (the tree plus docker's manifest.json and repositories, as Docker 25+ writes, so
 * that every docker engine, containerd, podman, skopeo and umoci load it).
 */
import { MediaType } from '../../model/media-types.js';
import { blobPath } from '../../model/digest.js';
import type { TreeWriter } from '../../io/output.js';
import type { BlobInfo, CommitMeta, OutputFormat, Sink } from './sink.js';
import { writeBlob } from './write-blob.js';
import { writeDeltaMarker, writeDockerMetadata } from './docker-meta.js';

export class LayoutSink implements Sink {
  readonly writesManifests = true;
  readonly writesDockerManifest: boolean;
  private readonly written = new Map<string, string>();

  constructor(readonly format: Extract<OutputFormat, 'oci-layout' | 'oci-archive' | 'hybrid'>, private readonly out: TreeWriter) {
    this.writesDockerManifest = format === 'hybrid';
  }

  async putBlob(info: BlobInfo, open: Parameters<Sink['putBlob']>[1]): Promise<string> {
    const existing = this.written.get(info.digest);
    if (existing) return existing;
    const path = blobPath(info.digest);
    if (info.omit) return path;
    if (this.written.size === 0 && this.out.kind === 'tar') {
      await this.out.addDirectory('blobs/');
      await this.out.addDirectory(`blobs/${info.digest.split(':')[0]}/`);
    }
    await writeBlob(this.out, path, info, open);
    this.written.set(info.digest, path);
    return path;
  }

  async commit(meta: CommitMeta): Promise<void> {
    // Metadata comes last, as docker and containerd write it: readers must seek anyway.
    await writeDeltaMarker(this.out, meta.delta);
    await this.out.addFile('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: meta.index };
    await this.out.addFile('index.json', Buffer.from(JSON.stringify(index)));
    if (this.writesDockerManifest) {
      await writeDockerMetadata(this.out, meta.docker);
    }
    await this.out.commit();
  }

  abort(): Promise<void> {
    return this.out.abort();
  }
}
