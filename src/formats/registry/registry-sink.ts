/**
 * A repository of a registry as an output of the copy engine. Blobs: HEAD first and skipped when
 * the registry has them; mounted from another repository of the same registry when this push
 * session put them there; else uploaded, monolithic or in PATCH chunks (`chunkSize`), several
 * at once (bounded), each retried from the start on 5xx, 429 and broken connections. Manifests
 * are put by digest once every upload before them has finished, indexes after their manifests
 * (the engine's order); tags last, at commit.
 */
import { Readable } from 'node:stream';
import { ImgpackError } from '../../errors.js';
import { sleep, throwIfCancelled } from '../../io/cancel.js';
import type { Descriptor } from '../../model/oci.js';
import { Annotation } from '../../model/oci.js';
import { MediaType } from '../../model/media-types.js';
import { referrerDescriptor, referrersFallbackTag } from '../../model/referrers.js';
import { parseReference } from '../../model/reference.js';
import type { BlobInfo, DockerEntry, Sink, BlobBytes } from '../sinks/sink.js';
import { RegistryClient, RetryUpload } from './client.js';
import { readRange } from '../../io/tar-writer.js';

/** What one push knows across repositories: which repository of a registry holds a blob. */
export class PushSession {
  private readonly where = new Map<string, string>();

  record(host: string, digest: string, repo: string): void {
    if (!this.where.has(`${host} ${digest}`)) this.where.set(`${host} ${digest}`, repo);
  }

  repositoryWith(host: string, digest: string): string | undefined {
    return this.where.get(`${host} ${digest}`);
  }

  /** The repositories of a registry this session has put blobs in (the token must cover them for mounts). */
  repositories(host: string): string[] {
    return [...new Set([...this.where].filter(([k]) => k.startsWith(`${host} `)).map(([, repo]) => repo))];
  }
}

export interface PushOptions {
  /** Tags wait for publishTags() (a push of several repositories tags them all at the very end). */
  holdTags?: boolean;
  /** Upload blobs larger than this in PATCH chunks of this size; monolithic otherwise. */
  chunkSize?: number;
  /** Uploads in flight at once. */
  concurrency?: number;
  session?: PushSession;
}

const UPLOAD_ATTEMPTS = 4;

export class RegistrySink implements Sink {
  readonly format = 'oci-layout' as const;
  readonly writesManifests = true;
  readonly writesDockerManifest = false;
  private readonly client: RegistryClient;
  private readonly path: string;
  private readonly manifests = new Map<string, { raw: Buffer; mediaType: string }>();
  private readonly inFlight = new Set<Promise<void>>();
  private failure?: unknown;
  private readonly session: PushSession;
  readonly pushed: string[] = [];
  readonly mounted: string[] = [];
  bytesUploaded = 0;
  skipped = 0;

  constructor(readonly repository: string, private readonly opts: PushOptions = {}) {
    const ref = parseReference(repository);
    this.session = opts.session ?? new PushSession();
    this.path = ref.path;
    const host = new RegistryClient(ref).host;
    this.client = new RegistryClient(ref, { push: true, alsoPullFrom: this.session.repositories(host).filter((r) => r !== ref.path) });
  }

  async putBlob(info: BlobInfo, open: Parameters<Sink['putBlob']>[1]): Promise<string> {
    this.throwIfFailed();
    if (info.role === 'manifest' || info.role === 'index') {
      await this.drain(); // a manifest goes after every blob it names
      const raw = await toBuffer(await open());
      this.manifests.set(info.digest, { raw, mediaType: info.mediaType });
      const res = await this.client.request('PUT', `manifests/${info.digest}`, { headers: { 'Content-Type': info.mediaType }, body: raw });
      await res.discard();
      const subject = subjectOf(raw);
      // A registry with the referrers API says so (OCI-Subject); for one without, the referrer is
      // listed in the index under the fallback tag sha256-<hex>, as oras and cosign do.
      if (subject && !res.header('oci-subject')) {
        const list = this.fallbackReferrers.get(subject) ?? [];
        list.push(referrerDescriptor(info.digest, raw.length, info.mediaType, JSON.parse(raw.toString('utf8'))));
        this.fallbackReferrers.set(subject, list);
      }
      return info.digest;
    }
    while (this.inFlight.size >= (this.opts.concurrency ?? 3)) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const upload: Promise<void> = this.uploadBlob(info, open)
      .catch((e) => { this.failure ??= e; })
      .finally(() => this.inFlight.delete(upload));
    this.inFlight.add(upload);
    return info.digest;
  }

  private async uploadBlob(info: BlobInfo, open: Parameters<Sink['putBlob']>[1]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.uploadOnce(info, open);
        this.session.record(this.client.host, info.digest, this.path);
        return;
      } catch (e) {
        if (attempt >= UPLOAD_ATTEMPTS || !retriable(e)) throw e;
        await sleep(250 * 2 ** attempt);
      }
    }
  }

  private async uploadOnce(info: BlobInfo, open: Parameters<Sink['putBlob']>[1]): Promise<void> {
    const head = await this.client.request('HEAD', `blobs/${info.digest}`, { ok: [404] });
    await head.discard();
    if (head.status === 200) {
      this.skipped++;
      return;
    }
    const from = this.session.repositoryWith(this.client.host, info.digest);
    const query = from && from !== this.path ? `?mount=${encodeURIComponent(info.digest)}&from=${encodeURIComponent(from)}` : '';
    const start = await this.client.request('POST', `blobs/uploads/${query}`, { ok: [201, 202] });
    await start.discard();
    if (start.status === 201) {
      this.mounted.push(info.digest);
      return;
    }
    let location = this.location(start.header('location'));
    const data = await open();
    if (this.opts.chunkSize && info.size > this.opts.chunkSize && !Buffer.isBuffer(data)) {
      // PATCH chunk by chunk from one pass over the bytes; the source's own check runs at its end.
      const bytes = bytesOf(data)[Symbol.asyncIterator]();
      let carry: Uint8Array | undefined;
      for (let offset = 0; offset < info.size;) {
        const length = Math.min(this.opts.chunkSize, info.size - offset);
        const chunk = async function* () {
          for (let left = length; left > 0;) {
            const next = carry ?? (await bytes.next()).value;
            carry = undefined;
            if (!next) throw new Error('the blob ended early');
            if (next.length > left) {
              carry = next.subarray(left);
              yield next.subarray(0, left);
              return;
            }
            left -= next.length;
            yield next;
          }
        };
        const res = await this.client.request('PATCH', location, {
          absolute: true, ok: [202],
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(length), 'Content-Range': `${offset}-${offset + length - 1}` },
          body: chunk,
        });
        await res.discard();
        location = this.location(res.header('location') ?? location);
        offset += length;
      }
      await bytes.next(); // past the last byte: the source checks the blob's digest here
      const url = new URL(location);
      url.searchParams.set('digest', info.digest);
      await (await this.client.request('PUT', url.toString(), { absolute: true, headers: { 'Content-Length': '0' }, body: Buffer.alloc(0) })).discard();
    } else {
      const url = new URL(location);
      url.searchParams.set('digest', info.digest);
      const res = await this.client.request('PUT', url.toString(), {
        absolute: true,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(info.size) },
        body: Buffer.isBuffer(data) ? data : () => bytesOf(data),
      });
      await res.discard();
    }
    this.pushed.push(info.digest);
    this.bytesUploaded += info.size;
  }

  private location(header: string | null): string {
    if (!header) throw new ImgpackError('registry-error', 'the registry gave no upload location', this.client.host, 2);
    return this.client.resolveLocation(header);
  }

  private readonly tags: { tag: string; manifest: { raw: Buffer; mediaType: string } }[] = [];
  /** Referrers to list under their subject's fallback tag, at the tag phase. */
  private readonly fallbackReferrers = new Map<string, Descriptor[]>();

  /** Tags last: every name's manifest is put under its tag. */
  async commit(meta: { index: Descriptor[]; docker: DockerEntry[] }): Promise<void> {
    await this.drain();
    for (const d of meta.index) {
      const name = d.annotations?.[Annotation.containerdName];
      if (!name) continue;
      const tag = parseReference(name).tag;
      const m = this.manifests.get(d.digest);
      if (tag && m) this.tags.push({ tag, manifest: m });
    }
    if (!this.opts.holdTags) await this.publishTags();
  }

  /**
   * The names: a few small requests, the push's commit point. A signal before it stops the push
   * with no new name; once it has begun, it goes through (within the CLI's grace period).
   */
  async publishTags(): Promise<void> {
    throwIfCancelled();
    for (const { tag, manifest } of this.tags.splice(0)) {
      await (await this.client.request('PUT', `manifests/${tag}`, { headers: { 'Content-Type': manifest.mediaType }, body: manifest.raw, uninterruptible: true })).discard();
    }
    for (const [subject, referrers] of this.fallbackReferrers) await this.listUnderFallbackTag(subject, referrers);
    this.fallbackReferrers.clear();
  }

  /** Adds referrers to the index under `sha256-<hex>`, keeping what it lists already. */
  private async listUnderFallbackTag(subject: string, referrers: Descriptor[]): Promise<void> {
    const tag = referrersFallbackTag(subject);
    const res = await this.client.request('GET', `manifests/${tag}`, { accept: MediaType.ociIndex, ok: [404], uninterruptible: true });
    let listed: Descriptor[] = [];
    if (res.status === 404) await res.discard();
    else {
      try {
        const json = JSON.parse((await toBuffer(res.body)).toString('utf8')) as { manifests?: Descriptor[] };
        listed = Array.isArray(json.manifests) ? json.manifests : [];
      } catch {
        listed = []; // not an index: replaced by one
      }
    }
    const added = referrers.filter((r) => !listed.some((l) => l.digest === r.digest));
    if (!added.length) return;
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...listed, ...added] }));
    await (await this.client.request('PUT', `manifests/${tag}`, { headers: { 'Content-Type': MediaType.ociIndex }, body, uninterruptible: true })).discard();
  }

  async abort(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/** Worth another try from the start: the network or the registry, not the bytes. */
function retriable(e: unknown): boolean {
  if (e instanceof RetryUpload) return true;
  if (e instanceof ImgpackError) return e.code === 'registry-unreachable' || (e.code === 'registry-error' && /answered (5\d\d|429)/.test(e.message));
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNREFUSED';
}

/** The digest a manifest's `subject` names, if it has one. */
function subjectOf(raw: Buffer): string | undefined {
  if (!raw.includes('"subject"')) return undefined;
  try {
    const digest = (JSON.parse(raw.toString('utf8')) as { subject?: { digest?: unknown } }).subject?.digest;
    return typeof digest === 'string' ? digest : undefined;
  } catch {
    return undefined;
  }
}

async function toBuffer(data: BlobBytes): Promise<Buffer> {
  if (Buffer.isBuffer(data)) return data;
  const chunks: Buffer[] = [];
  for await (const c of bytesOf(data)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** The bytes of a blob as chunks; a file range is read, shown to its tap, and checked at the end. */
async function* bytesOf(data: BlobBytes): AsyncGenerator<Uint8Array> {
  if (Buffer.isBuffer(data)) yield data;
  else if ('kind' in data && data.kind === 'range') yield* readRange(data); // its check throws on bad bytes: the upload is abandoned
  else yield* (data instanceof Readable ? data : (data as AsyncIterable<Uint8Array>));
}
