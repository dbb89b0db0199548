/**
 * The push side of the distribution API, into the store: blob uploads (POST, monolithic POST
 * ?digest=, cross-repository mount, PATCH chunks, PUT ?digest= to finish, status, cancel) and
 * manifest PUTs by tag or digest.
 *
 * Crash- and concurrency-safety, as the store's other writers: an upload grows in a temporary
 * file under blobs/<alg>/ (named after this process: prune leaves temporaries of live processes
 * alone); when it is finished and its digest checked, it is fsynced and renamed into place. A
 * blob that index.json does not reference yet is listed in `.pending/` (Holds) before the store
 * is looked at, so a prune never takes it between its upload and the manifest that uses it.
 * index.json changes only through Store.updateIndex, under the lock.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fsyncPath } from '../io/atomic.js';
import { namesFromAnnotations } from '../formats/names.js';
import type { Store } from '../formats/store/store.js';
import { algorithmOf, blobPath, digestOf, digestProblem } from '../model/digest.js';
import { isIndexMediaType, isManifestMediaType } from '../model/media-types.js';
import { Annotation, indexProblems, manifestProblems, type Descriptor } from '../model/oci.js';
import { SIZE_ANNOTATION } from '../ops/store-ops.js';
import { digestInvalid, manifestBlobUnknown, manifestInvalid, rangeInvalid, RegistryError, tagInvalid, uploadUnknown } from './errors.js';
import type { Holds } from './holds.js';
import { absolute, drain, readBody, send, type Req, type Res } from './http-util.js';
import { MANIFEST_LIMIT, manifestMediaType, referencedDescriptors, type StoreView } from './store-view.js';

const TAG_RE = /^[\w][\w.-]{0,127}$/;

interface Upload {
  id: string;
  repository: string;
  temp: string;
  size: number;
  hash: Hash;
  touched: number;
  busy: boolean;
}

export class PushHandlers {
  private readonly uploads = new Map<string, Upload>();
  private readonly store: Store;

  constructor(private readonly view: StoreView, private readonly holds: Holds, private readonly opts: { tls: boolean; uploadTtlMs: number; now?: () => number }) {
    this.store = view.store;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** POST /v2/<name>/blobs/uploads/ [?digest= | ?mount=&from=] */
  async startUpload(req: Req, res: Res, name: string, repository: string, query: URLSearchParams): Promise<void> {
    const mount = query.get('mount');
    if (mount && !digestProblem(mount)) {
      this.holds.hold(mount); // before looking: a prune now keeps it
      if (this.store.hasBlob(mount)) {
        await drain(req);
        send(res, 201, { Location: absolute(req, `/v2/${name}/blobs/${mount}`, this.opts.tls), 'Docker-Content-Digest': mount });
        return;
      }
      this.holds.release([mount]);
    }
    const digest = query.get('digest');
    if (digest !== null && digestProblem(digest)) throw new RegistryError(400, 'DIGEST_INVALID', digestProblem(digest)!, { digest });
    const upload = this.create(repository);
    if (digest !== null) {
      try {
        await this.append(upload, req);
        await this.finish(upload, digest);
      } finally {
        this.drop(upload);
      }
      send(res, 201, { Location: absolute(req, `/v2/${name}/blobs/${digest}`, this.opts.tls), 'Docker-Content-Digest': digest });
      return;
    }
    await drain(req);
    this.sendStatus(req, res, 202, name, upload);
  }

  /** PATCH /v2/<name>/blobs/uploads/<id>: a chunk (Content-Range optional, must continue the upload). */
  async patchUpload(req: Req, res: Res, name: string, repository: string, id: string): Promise<void> {
    const upload = this.get(id, repository);
    this.checkContentRange(req, upload, name);
    await this.append(upload, req);
    this.sendStatus(req, res, 202, name, upload);
  }

  /** PUT /v2/<name>/blobs/uploads/<id>?digest=: the last chunk (optional), checked, into the store. */
  async putUpload(req: Req, res: Res, name: string, repository: string, id: string, query: URLSearchParams): Promise<void> {
    const upload = this.get(id, repository);
    const digest = query.get('digest');
    if (!digest || digestProblem(digest)) throw new RegistryError(400, 'DIGEST_INVALID', digest ? digestProblem(digest)! : 'the digest parameter is missing', { digest });
    this.checkContentRange(req, upload, name);
    await this.append(upload, req);
    try {
      await this.finish(upload, digest);
    } finally {
      this.drop(upload);
    }
    send(res, 201, { Location: absolute(req, `/v2/${name}/blobs/${digest}`, this.opts.tls), 'Docker-Content-Digest': digest });
  }

  /** GET /v2/<name>/blobs/uploads/<id> */
  uploadStatus(req: Req, res: Res, name: string, repository: string, id: string): void {
    this.sendStatus(req, res, 204, name, this.get(id, repository));
  }

  /** DELETE /v2/<name>/blobs/uploads/<id> */
  cancelUpload(res: Res, repository: string, id: string): void {
    this.drop(this.get(id, repository));
    send(res, 204);
  }

  /** PUT /v2/<name>/manifests/<tag|digest> */
  async putManifest(req: Req, res: Res, name: string, repository: string, reference: string): Promise<void> {
    const byDigest = reference.includes(':');
    if (byDigest && digestProblem(reference)) throw new RegistryError(400, 'DIGEST_INVALID', digestProblem(reference)!, { digest: reference });
    if (!byDigest && !TAG_RE.test(reference)) throw tagInvalid(reference);
    const raw = await readBody(req, MANIFEST_LIMIT, () => manifestInvalid('bigger than 4 MiB'));
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw manifestInvalid('not valid JSON');
    }
    const mediaType = manifestMediaType(json);
    if (!mediaType) throw manifestInvalid(`not an image manifest or index${typeof json?.mediaType === 'string' ? ` (mediaType ${json.mediaType})` : ''}`);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim();
    if (typeof json.mediaType === 'string' && (isManifestMediaType(contentType) || isIndexMediaType(contentType)) && contentType !== json.mediaType) {
      throw manifestInvalid(`Content-Type ${contentType} is not the manifest's mediaType ${json.mediaType}`);
    }
    const problems = isIndexMediaType(mediaType) ? indexProblems(json, 'index') : manifestProblems(json, 'manifest');
    if (problems.length) throw manifestInvalid(problems[0]);
    const digest = digestOf(raw, byDigest ? algorithmOf(reference) : 'sha256');
    if (byDigest && digest !== reference) throw digestInvalid(`the manifest's digest is ${digest}`, { digest: reference });

    for (const ref of referencedDescriptors(json)) {
      if (ref.kind === 'blob' && ref.descriptor.urls?.length) continue; // foreign layers live elsewhere
      this.holds.hold(ref.descriptor.digest); // before looking, so that a prune keeps it
      if (!this.store.hasBlob(ref.descriptor.digest)) throw manifestBlobUnknown(ref.descriptor.digest);
    }
    this.holds.hold(digest);
    if (!this.store.hasBlob(digest)) this.writeBlob(raw, digest);

    const closure = this.view.closure(digest);
    const descriptor: Descriptor = { mediaType, digest, size: raw.length };
    await this.store.updateIndex((current) => {
      const size = current.find((d) => d.digest === digest && d.annotations?.[SIZE_ANNOTATION])?.annotations?.[SIZE_ANNOTATION];
      if (!byDigest) {
        // The name moves to this manifest, as with docker; unnamed entries it now reaches go.
        const name = `${repository}:${reference}`;
        const kept = current.filter((d) => {
          const names = namesFromAnnotations(d.annotations).names;
          return names.length ? !names.includes(name) : !closure.has(d.digest);
        });
        return [...kept, { ...descriptor, annotations: { [Annotation.containerdName]: name, [Annotation.refName]: name, ...(size ? { [SIZE_ANNOTATION]: size } : {}) } }];
      }
      // By digest: findable already when an entry reaches it (an index pushed before); else an
      // unnamed entry keeps it (a following tag push of it, or of an index over it, replaces that).
      const reached = current.some((d) => d.digest === digest || (isIndexMediaType(d.mediaType) && this.view.closure(d.digest).has(digest)));
      return reached ? current : [...current, descriptor];
    });
    this.holds.release(closure); // index.json references them now
    // OCI 1.1: a registry that lists referrers says so to the client that pushed one, which then
    // does not maintain a fallback tag (sha256-<hex>) itself.
    const subject = (json.subject as Descriptor | undefined)?.digest;
    send(res, 201, { Location: absolute(req, `/v2/${name}/manifests/${digest}`, this.opts.tls), 'Docker-Content-Digest': digest, ...(typeof subject === 'string' ? { 'OCI-Subject': subject } : {}) });
  }

  /** Removes uploads idle for longer than the TTL. */
  sweep(): void {
    const limit = this.now() - this.opts.uploadTtlMs;
    for (const u of [...this.uploads.values()]) if (!u.busy && u.touched < limit) this.drop(u);
  }

  /** Serve stops: unfinished uploads go. */
  abortAll(): void {
    for (const u of [...this.uploads.values()]) this.drop(u);
  }

  get activeUploads(): number {
    return this.uploads.size;
  }

  private create(repository: string): Upload {
    const temp = this.store.tempBlobPath('sha256:');
    writeFileSync(temp, '', { flag: 'wx' });
    const upload: Upload = { id: randomUUID(), repository, temp, size: 0, hash: createHash('sha256'), touched: this.now(), busy: false };
    this.uploads.set(upload.id, upload);
    return upload;
  }

  private get(id: string, repository: string): Upload {
    const u = this.uploads.get(id);
    if (!u || u.repository !== repository) throw uploadUnknown(id);
    return u;
  }

  private drop(upload: Upload): void {
    this.uploads.delete(upload.id);
    rmSync(upload.temp, { force: true });
  }

  /** 202/204 with where the upload is: Location, Range (0-<last byte>), Docker-Upload-UUID. */
  private sendStatus(req: Req, res: Res, status: number, name: string, upload: Upload): void {
    send(res, status, {
      Location: absolute(req, `/v2/${name}/blobs/uploads/${upload.id}`, this.opts.tls),
      Range: `0-${Math.max(0, upload.size - 1)}`,
      'Docker-Upload-UUID': upload.id,
    });
  }

  /** A chunk must start where the upload is: else 416 with the Range we have. */
  private checkContentRange(req: Req, upload: Upload, name: string): void {
    const header = req.headers['content-range'];
    if (!header) return;
    const m = /^(?:bytes )?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
    if (!m || Number(m[1]) !== upload.size || Number(m[2]) < Number(m[1])) {
      throw rangeInvalid(`Content-Range ${header} does not continue the upload at ${upload.size}`, {
        Location: absolute(req, `/v2/${name}/blobs/uploads/${upload.id}`, this.opts.tls),
        Range: `0-${Math.max(0, upload.size - 1)}`,
        'Docker-Upload-UUID': upload.id,
      });
    }
  }

  /** Appends the request body; a body cut short leaves the upload as it was before it. */
  private async append(upload: Upload, req: Req): Promise<void> {
    if (upload.busy) throw rangeInvalid('another request is writing to this upload');
    upload.busy = true;
    const size = upload.size;
    const hash = upload.hash.copy();
    try {
      await pipeline(req, new Transform({
        transform(chunk: Buffer, _e, cb) {
          upload.size += chunk.length;
          upload.hash.update(chunk);
          cb(null, chunk);
        },
      }), createWriteStream(upload.temp, { flags: 'a' }));
    } catch (e) {
      try {
        truncateSync(upload.temp, size);
      } catch {
        this.drop(upload); // cancelled meanwhile: nothing to keep
      }
      upload.size = size;
      upload.hash = hash;
      throw e;
    } finally {
      upload.busy = false;
      upload.touched = this.now();
    }
  }

  /** Checks the digest, then fsync + rename into the store (a blob it has already is kept). */
  private async finish(upload: Upload, digest: string): Promise<void> {
    const algorithm = algorithmOf(digest);
    const actual = algorithm === 'sha256' ? `sha256:${upload.hash.copy().digest('hex')}` : await hashFile(upload.temp, algorithm);
    if (actual !== digest) throw digestInvalid(`the ${upload.size} bytes uploaded have digest ${actual}`, { digest, size: upload.size });
    this.commitTemp(upload.temp, digest);
  }

  private writeBlob(data: Buffer, digest: string): void {
    const temp = this.store.tempBlobPath('sha256:');
    try {
      writeFileSync(temp, data, { flag: 'wx' });
      this.commitTemp(temp, digest);
    } finally {
      rmSync(temp, { force: true });
    }
  }

  private commitTemp(temp: string, digest: string): void {
    this.holds.hold(digest); // before looking: a prune keeps it from now on
    if (this.store.hasBlob(digest)) {
      rmSync(temp, { force: true });
      return;
    }
    fsyncPath(temp);
    mkdirSync(dirname(join(this.store.root, blobPath(digest))), { recursive: true });
    this.store.commitBlob(temp, digest);
    this.store.syncBlobDirs(); // the rename is durable before anything names the blob
  }
}

async function hashFile(path: string, algorithm: string): Promise<string> {
  const h = createHash(algorithm);
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return `${algorithm}:${h.digest('hex')}`;
}
