/**
 * The store as an output of the copy engine: blobs it already has are skipped, new ones are
 * written crash-safely to temporary names, and only when the whole copy has succeeded (every
 * digest checked) are they renamed into place and the names added to index.json, under the lock
 * (a name moves to the new image, as with docker load). A corrupt input thus adds nothing.
 */
import { closeSync, createWriteStream, fsyncSync, openSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromSystemError, ImgpackError } from '../../errors.js';
import { blobPath } from '../../model/digest.js';
import { Annotation, type Descriptor } from '../../model/oci.js';
import { FdSink, TarWriter } from '../../io/tar-writer.js';
import { fsyncPath } from '../../io/atomic.js';
import { cancelSignal, throwIfCancelled } from '../../io/cancel.js';
import { registerTemp, releaseTemp } from '../../io/temp.js';
import type { BlobInfo, DockerEntry, Sink } from '../sinks/sink.js';
import type { Store } from './store.js';

export class StoreSink implements Sink {
  readonly format = 'store' as const;
  readonly writesManifests = true;
  readonly writesDockerManifest = false;
  private readonly pending;
  /** Temporary blob files, each with the function that removes it. */
  private readonly temps = new Map<string, () => void>();
  /** Blobs written, fsynced and checked, waiting under their temporary names for commit. */
  private readonly ready = new Map<string, string>();
  /** With `holdCommit`, each copy's index entries wait here for `complete()`. */
  private readonly held: Descriptor[] = [];
  /** Blobs (and their bytes) this load found already in the store or written by an earlier input of it. */
  skipped = 0;
  bytesSkipped = 0;
  /** Blobs (and their bytes) this load really wrote. */
  written = 0;
  bytesWritten = 0;

  /**
   * `annotate` adds annotations to each new index.json entry. `holdCommit` lets several copies
   * (a load of several inputs) write into one sink that adds them all, or nothing, in `complete()`.
   */
  constructor(private readonly store: Store, private readonly opts: { annotate?: (d: Descriptor) => Record<string, string> | undefined; holdCommit?: boolean } = {}) {
    this.pending = store.beginPending();
  }

  async putBlob(info: BlobInfo, open: Parameters<Sink['putBlob']>[1]): Promise<string> {
    const path = blobPath(info.digest);
    this.pending.add(info.digest); // before the blob exists, so prune keeps it from now on
    if (this.store.hasBlob(info.digest) || this.ready.has(info.digest)) {
      this.skipped++;
      this.bytesSkipped += info.size;
      return path;
    }
    const temp = this.store.tempBlobPath(info.digest);
    this.temps.set(temp, registerTemp(temp));
    try {
      const data = await open();
      if (Buffer.isBuffer(data) || ('kind' in data && data.kind === 'range')) {
        const fd = openSync(temp, 'wx');
        try {
          const sink = new FdSink(fd);
          if (Buffer.isBuffer(data)) sink.write(data);
          else await new TarWriter(sink).copyRange(data);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      } else {
        await pipeline(data instanceof Readable ? data : Readable.from(data as AsyncIterable<Uint8Array>), createWriteStream(temp, { flags: 'wx' }), { signal: cancelSignal });
        fsyncPath(temp);
      }
      this.ready.set(info.digest, temp);
      this.written++;
      this.bytesWritten += info.size;
    } catch (e) {
      throw e instanceof ImgpackError ? e : fromSystemError(e, this.store.root);
    }
    return path;
  }

  async commit(meta: { index: Descriptor[]; docker: DockerEntry[] }): Promise<void> {
    this.held.push(...meta.index);
    if (!this.opts.holdCommit) await this.complete();
  }

  /**
   * Moves the new blobs into place, then names them in index.json. Once the lock is held, this is
   * synchronous to the end: a signal either comes before it (nothing changed: abort removes the
   * temporaries) or after it (the load is complete), never in between.
   */
  async complete(): Promise<void> {
    try {
      await this.store.locked(async () => {
        throwIfCancelled();
        for (const [digest, temp] of this.ready) {
          this.store.commitBlob(temp, digest);
          releaseTemp(temp);
          this.temps.delete(temp);
        }
        this.store.syncBlobDirs(); // the renames are durable before index.json names them
        const nameOf = (d: Descriptor) => d.annotations?.[Annotation.containerdName];
        // A name given by two inputs of one load ends on the later one, as with two docker loads.
        const incoming = this.held.filter((d, i) => !nameOf(d) || !this.held.slice(i + 1).some((e) => nameOf(e) === nameOf(d))).map((d) => {
          const extra = this.opts.annotate?.(d);
          return extra ? { ...d, annotations: { ...(d.annotations ?? {}), ...extra } } : d;
        });
        const newNames = new Set(incoming.map((d) => d.annotations?.[Annotation.containerdName]).filter(Boolean));
        this.store.replaceIndex((current) => {
          const kept = current.filter((d) => {
            const name = d.annotations?.[Annotation.containerdName];
            if (name) return !newNames.has(name);
            return !incoming.some((n) => n.digest === d.digest); // an unnamed entry the load now names
          });
          const unnamedDup = (d: Descriptor) => !d.annotations?.[Annotation.containerdName] && kept.some((k) => k.digest === d.digest);
          return [...kept, ...incoming.filter((d) => !unnamedDup(d))];
        });
      });
    } finally {
      this.pending.end();
    }
  }

  async abort(): Promise<void> {
    for (const remove of this.temps.values()) remove();
    this.temps.clear();
    this.pending.end();
  }
}
