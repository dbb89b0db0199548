/**
 * The store as an output of the copy engine: blobs it already has are skipped, new ones are
 * written crash-safely, and the names are added to index.json at the very end, under the lock
 * (a name moves to the new image, as with docker load).
 */
import { closeSync, createWriteStream, fsyncSync, openSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromSystemError, ImgpackError } from '../../errors.js';
import { blobPath } from '../../model/digest.js';
import { Annotation, type Descriptor } from '../../model/oci.js';
import { FdSink, TarWriter } from '../../io/tar-writer.js';
import type { BlobInfo, DockerEntry, Sink } from '../sinks/sink.js';
import type { Store } from './store.js';

export class StoreSink implements Sink {
  readonly format = 'store' as const;
  readonly writesManifests = true;
  readonly writesDockerManifest = false;
  private readonly pending;
  private readonly temps = new Set<string>();
  /** Blobs this load found already in the store. */
  skipped = 0;

  constructor(private readonly store: Store, private readonly annotate?: (d: Descriptor) => Record<string, string> | undefined) {
    this.pending = store.beginPending();
  }

  async putBlob(info: BlobInfo, open: Parameters<Sink['putBlob']>[1]): Promise<string> {
    const path = blobPath(info.digest);
    this.pending.add(info.digest); // before the blob exists, so prune keeps it from now on
    if (this.store.hasBlob(info.digest)) {
      this.skipped++;
      return path;
    }
    const temp = this.store.tempBlobPath(info.digest);
    this.temps.add(temp);
    try {
      const data = await open();
      if (Buffer.isBuffer(data) || ('kind' in data && data.kind === 'range')) {
        const fd = openSync(temp, 'wx');
        try {
          const w = new TarWriter(new FdSink(fd));
          if (Buffer.isBuffer(data)) new FdSink(fd).write(data);
          else await w.copyRange(data);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      } else {
        await pipeline(data instanceof Readable ? data : Readable.from(data as AsyncIterable<Uint8Array>), createWriteStream(temp, { flags: 'wx' }));
        const fd = openSync(temp, 'r+');
        fsyncSync(fd);
        closeSync(fd);
      }
      this.store.commitBlob(temp, info.digest);
      this.temps.delete(temp);
    } catch (e) {
      throw e instanceof ImgpackError ? e : fromSystemError(e, this.store.root);
    }
    return path;
  }

  async commit(meta: { index: Descriptor[]; docker: DockerEntry[] }): Promise<void> {
    const incoming = meta.index.map((d) => {
      const extra = this.annotate?.(d);
      return extra ? { ...d, annotations: { ...(d.annotations ?? {}), ...extra } } : d;
    });
    const newNames = new Set(incoming.map((d) => d.annotations?.[Annotation.containerdName]).filter(Boolean));
    try {
      await this.store.updateIndex((current) => {
        const kept = current.filter((d) => {
          const name = d.annotations?.[Annotation.containerdName];
          if (name) return !newNames.has(name);
          return !incoming.some((n) => n.digest === d.digest); // an unnamed entry the load now names
        });
        const unnamedDup = (d: Descriptor) => !d.annotations?.[Annotation.containerdName] && kept.some((k) => k.digest === d.digest);
        return [...kept, ...incoming.filter((d) => !unnamedDup(d))];
      });
    } finally {
      this.pending.end();
    }
  }

  async abort(): Promise<void> {
    for (const t of this.temps) rmSync(t, { force: true });
    this.pending.end();
  }
}
