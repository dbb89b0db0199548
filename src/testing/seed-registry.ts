/**
 * Puts built images straight into a plain-HTTP registry (a loopback distribution instance) for
 * tests and benches: blobs by monolithic upload, manifests and indexes under tags. Independent of
 * imgpack's own push, so that what a pull reads was not written by the code under test.
 */
import { createHash } from 'node:crypto';
import { MediaType } from '../model/media-types.js';
import type { BuiltBlob, BuiltImage } from './build.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function putBlob(host: string, repo: string, data: Buffer, digest = sha256(data)): Promise<void> {
  const head = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  if (head.ok) return;
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`POST upload to ${repo}: ${start.status}`);
  const location = new URL(start.headers.get('location')!, `http://${host}/`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: new Uint8Array(data), headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`PUT blob ${digest} to ${repo}: ${put.status} ${await put.text()}`);
}

export async function putManifest(host: string, repo: string, reference: string, blob: BuiltBlob): Promise<void> {
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: new Uint8Array(blob.data), headers: { 'Content-Type': blob.mediaType } });
  if (r.status !== 201) throw new Error(`PUT manifest ${repo}:${reference}: ${r.status} ${await r.text()}`);
}

/** The image's blobs, then its manifest under `tag` (or by digest only, without one). */
export async function pushImage(host: string, repo: string, tag: string | undefined, img: BuiltImage): Promise<void> {
  await putBlob(host, repo, img.config.data, img.config.digest);
  for (const l of img.layers) await putBlob(host, repo, l.data, l.digest);
  await putManifest(host, repo, tag ?? img.manifest.digest, img.manifest);
}

/** Every image by digest, then an OCI index of them under `tag`; returns the index. */
export async function pushIndex(host: string, repo: string, tag: string, images: BuiltImage[]): Promise<BuiltBlob> {
  for (const img of images) await pushImage(host, repo, undefined, img);
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: images.map((img) => {
      const cfg = JSON.parse(img.config.data.toString());
      return { mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.data.length, platform: { os: cfg.os, architecture: cfg.architecture, ...(cfg.variant ? { variant: cfg.variant } : {}) } };
    }),
  }));
  const blob = { digest: sha256(index), data: index, mediaType: MediaType.ociIndex };
  await putManifest(host, repo, tag, blob);
  return blob;
}
