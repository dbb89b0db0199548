/**
 * A repository of a registry as an output of the copy engine: a blob the registry has (HEAD) is
 * skipped, others are uploaded (POST then PUT ?digest=, monolithic); manifests are put by digest
 * after their blobs, indexes after their manifests (the engine's order); tags last, at commit.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Descriptor } from '../../model/oci.js';
import { Annotation } from '../../model/oci.js';
import { parseReference } from '../../model/reference.js';
import type { BlobInfo, DockerEntry, Sink, BlobBytes } from '../sinks/sink.js';
import { RegistryClient } from './client.js';

export class RegistrySink implements Sink {
  readonly format = 'oci-layout' as const;
  readonly writesManifests = true;
  readonly writesDockerManifest = false;
  private readonly client: RegistryClient;
  private readonly manifests = new Map<string, { raw: Buffer; mediaType: string }>();
  readonly pushed: string[] = [];
  skipped = 0;

  constructor(readonly repository: string) {
    this.client = new RegistryClient(parseReference(repository), { push: true });
  }

  async putBlob(info: BlobInfo, open: Parameters<Sink['putBlob']>[1]): Promise<string> {
    if (info.role === 'manifest' || info.role === 'index') {
      const raw = await toBuffer(await open());
      this.manifests.set(info.digest, { raw, mediaType: info.mediaType });
      await this.client.request('PUT', `manifests/${info.digest}`, { headers: { 'Content-Type': info.mediaType }, body: raw });
      return info.digest;
    }
    const head = await this.client.request('HEAD', `blobs/${info.digest}`, { ok: [404] });
    if (head.status === 200) {
      this.skipped++;
      return info.digest;
    }
    const start = await this.client.request('POST', 'blobs/uploads/', { ok: [202] });
    const location = start.headers.get('location');
    if (!location) throw new Error('the registry gave no upload location');
    const url = new URL(this.client.resolveLocation(location));
    url.searchParams.set('digest', info.digest);
    const data = await open();
    await this.client.request('PUT', url.toString(), {
      absolute: true,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(info.size) },
      body: Buffer.isBuffer(data) ? data : () => bytesOf(data),
    });
    this.pushed.push(info.digest);
    return info.digest;
  }

  /** Tags last: every name's manifest is put under its tag. */
  async commit(meta: { index: Descriptor[]; docker: DockerEntry[] }): Promise<void> {
    for (const d of meta.index) {
      const name = d.annotations?.[Annotation.containerdName];
      if (!name) continue;
      const tag = parseReference(name).tag;
      const m = this.manifests.get(d.digest);
      if (!tag || !m) continue;
      await this.client.request('PUT', `manifests/${tag}`, { headers: { 'Content-Type': m.mediaType }, body: m.raw });
    }
  }

  async abort(): Promise<void> {}
}

async function toBuffer(data: BlobBytes): Promise<Buffer> {
  if (Buffer.isBuffer(data)) return data;
  const chunks: Buffer[] = [];
  for await (const c of bytesOf(data)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** The bytes of a blob as chunks; a file range is read, shown to its tap, and checked at the end. */
async function* bytesOf(data: BlobBytes): AsyncGenerator<Uint8Array> {
  if (Buffer.isBuffer(data)) {
    yield data;
    return;
  }
  if ('kind' in data && data.kind === 'range') {
    for (const seg of data.segments) {
      const fd = openSync(seg.path, 'r');
      try {
        for (let pos = seg.start; pos < seg.start + seg.length;) {
          const buf = Buffer.allocUnsafe(Math.min(4 << 20, seg.start + seg.length - pos));
          const n = readSync(fd, buf, 0, buf.length, pos);
          if (n === 0) break;
          const chunk = buf.subarray(0, n);
          data.tap?.(chunk);
          yield chunk;
          pos += n;
        }
      } finally {
        closeSync(fd);
      }
    }
    data.done?.(); // throws when the source blob was not what it claimed: the upload is abandoned
    return;
  }
  for await (const c of (data instanceof Readable ? data : (data as AsyncIterable<Uint8Array>))) yield c as Uint8Array;
}
