/** `chunk` (split an existing archive into volumes) and `join` (reassemble, checking everything). */
import { closeSync, createReadStream, fsyncSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fromSystemError, invalid, usage } from '../errors.js';
import { checkFreeSpace } from '../io/output.js';
import { registerTemp, releaseTemp, siblingTempName } from '../io/temp.js';
import { throwIfCancelled } from '../io/cancel.js';
import { checkVolumes, findVolumeSet, noVolumeSetError, VolumeError, VolumeSink, type TransferManifest, type VolumeSet } from '../io/volumes.js';
import { once } from 'node:events';
import { openSource } from '../formats/source.js';
import { VERSION } from '../version.js';

export async function chunkFile(file: string, volumeSize: number): Promise<TransferManifest> {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    throw fromSystemError(e, file);
  }
  // Describe the images when the file is an archive imgpack reads; a chunked file may be anything.
  let images: TransferManifest['images'] = [];
  let format: string | undefined;
  let compression: string | undefined;
  try {
    const src = await openSource(file);
    images = src.catalog.images.map((i) => ({ id: i.id, names: i.repoTags, platform: i.platform ? [i.platform.os, i.platform.architecture, i.platform.variant].filter(Boolean).join('/') : undefined }));
    format = src.format;
    compression = src.compression;
    await src.close();
  } catch {
    throwIfCancelled();
    // not an image archive: chunk it all the same
  }
  await checkFreeSpace(resolve(file), size);
  const sink = new VolumeSink(file, volumeSize);
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) {
      throwIfCancelled();
      sink.write(chunk as Buffer);
    }
    return await sink.commit({ imgpackVersion: VERSION, created: new Date().toISOString(), format, compression, images });
  } catch (e) {
    sink.abort();
    throw e instanceof Error && e.name === 'ImgpackError' ? e : fromSystemError(e, file);
  }
}

/** Reassembles a volume set into `target`, checking each volume and the whole archive's sha256. */
export async function joinVolumes(spec: string, target: string): Promise<{ size: number; sha256: string; volumes: number }> {
  const set = findVolumeSet(spec);
  if (!set) throw noVolumeSetError(spec);
  if (set.loadable) throw usage('loadable-volumes', 'these volumes are archives of their own (--loadable-volumes): there is nothing to join; load or verify the set', spec);
  const problems = await checkVolumes(set);
  if (problems.length) throw new VolumeError(problems, spec);
  if (target === '-') return joinToStandardOutput(set, spec);
  const total = set.files.reduce((n, f) => n + statSync(f).size, 0);
  await checkFreeSpace(resolve(target), total);
  const temp = siblingTempName(target);
  const remove = registerTemp(temp);
  const hash = createHash('sha256');
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx');
    let size = 0;
    for (const f of set.files) {
      for await (const chunk of createReadStream(f, { highWaterMark: 4 << 20 })) {
        throwIfCancelled();
        const buf = chunk as Buffer;
        hash.update(buf);
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
        size += buf.length;
      }
    }
    const sha256 = `sha256:${hash.digest('hex')}`;
    if (set.manifest && (sha256 !== set.manifest.sha256 || size !== set.manifest.size)) {
      throw invalid('join-mismatch', `the joined archive has sha256 ${sha256} (${size} bytes), the manifest says ${set.manifest.sha256} (${set.manifest.size} bytes)`, spec);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    throwIfCancelled();
    renameSync(temp, target);
    releaseTemp(temp);
    return { size, sha256, volumes: set.files.length };
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    remove();
    throw e instanceof Error && e.name === 'ImgpackError' ? e : fromSystemError(e, dirname(target));
  }
}

/**
 * `join -o -`: the volumes, each already checked against its sha256, streamed to standard
 * output (into docker load, say); the whole archive's sha256 is checked at the end too.
 */
async function joinToStandardOutput(set: VolumeSet, spec: string): Promise<{ size: number; sha256: string; volumes: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for (const f of set.files) {
    for await (const chunk of createReadStream(f, { highWaterMark: 4 << 20 })) {
      throwIfCancelled();
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
    }
  }
  const sha256 = `sha256:${hash.digest('hex')}`;
  if (set.manifest && (sha256 !== set.manifest.sha256 || size !== set.manifest.size)) {
    throw invalid('join-mismatch', `the joined archive has sha256 ${sha256} (${size} bytes), the manifest says ${set.manifest.sha256} (${set.manifest.size} bytes)`, spec);
  }
  return { size, sha256, volumes: set.files.length };
}
