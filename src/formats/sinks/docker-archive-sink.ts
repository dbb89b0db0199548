/**
 * docker-archive output, as docker <= 24 writes it: `<id>/layer.tar` (+ VERSION, json) per layer,
 * `<image id>.json` configs, manifest.json and repositories. Old engines (docker 20.10) and
 * podman/skopeo's docker-archive: transport read it. No manifests or indexes are written.
 */
import type { TreeWriter } from '../../io/output.js';
import type { BlobInfo, CommitMeta, Sink } from './sink.js';
import { writeBlob } from './write-blob.js';
import { writeDeltaMarker, writeDockerMetadata } from './docker-meta.js';

const hex = (digest: string) => digest.slice(digest.indexOf(':') + 1);

export class DockerArchiveSink implements Sink {
  readonly format = 'docker-archive';
  readonly writesManifests = false;
  readonly writesDockerManifest = true;
  private readonly written = new Map<string, string>();
  /** Layer folders by chain ID: the same chain is the same uncompressed content, however stored. */
  private readonly byChain = new Map<string, string>();

  constructor(private readonly out: TreeWriter) {}

  async putBlob(info: BlobInfo, open: Parameters<Sink['putBlob']>[1]): Promise<string> {
    const existing = this.written.get(info.digest);
    if (existing) return existing;
    let path: string;
    const sameChain = info.chainId ? this.byChain.get(info.chainId) : undefined;
    if (info.role === 'layer' && sameChain) return sameChain;
    if (info.role === 'layer') {
      // Layer folders are named by chain ID: deterministic, unique per position in the stack.
      const id = hex(info.chainId ?? info.digest);
      await this.out.addDirectory(`${id}/`);
      await this.out.addFile(`${id}/VERSION`, Buffer.from('1.0'));
      const v1 = info.parentChainId ? { id, parent: hex(info.parentChainId) } : { id };
      await this.out.addFile(`${id}/json`, Buffer.from(JSON.stringify(v1)));
      path = `${id}/layer.tar`;
    } else {
      path = `${hex(info.digest)}.json`;
    }
    if (!info.omit) await writeBlob(this.out, path, info, open);
    this.written.set(info.digest, path);
    if (info.role === 'layer' && info.chainId) this.byChain.set(info.chainId, path);
    return path;
  }

  async commit(meta: CommitMeta): Promise<void> {
    await writeDeltaMarker(this.out, meta.delta);
    await writeDockerMetadata(this.out, meta.docker);
    await this.out.commit();
  }

  abort(): Promise<void> {
    return this.out.abort();
  }
}
