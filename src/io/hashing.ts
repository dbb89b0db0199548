/**
 * One pass over a blob: hash the bytes as stored, count them, and (for layers) decompress and
 * hash the content, so every blob is read once whatever is checked of it.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompress, type Compression } from './compression.js';
import { cancelSignal } from './cancel.js';
import type { DigestAlgorithm } from '../model/digest.js';

export interface BlobDigests {
  size: number;
  /** `alg:hex` of the stored bytes, per algorithm asked for. */
  stored: Partial<Record<DigestAlgorithm, string>>;
  /** sha256 of the decompressed bytes, when asked for. */
  content?: string;
  contentSize?: number;
}

export async function digestStream(input: Readable, opts: { algorithms: DigestAlgorithm[]; compression?: Compression; subject: string }): Promise<BlobDigests> {
  const hashers = new Map<DigestAlgorithm, Hash>(opts.algorithms.map((a) => [a, createHash(a)]));
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      for (const h of hashers.values()) h.update(chunk);
      cb(null, chunk);
    },
  });
  const stored = (): BlobDigests['stored'] => Object.fromEntries([...hashers].map(([a, h]) => [a, `${a}:${h.digest('hex')}`]));
  if (opts.compression === undefined) {
    await pipeline(input, counter, new Writable({ write(_c, _e, cb) { cb(); } }), { signal: cancelSignal });
    return { size, stored: stored() };
  }
  if (opts.compression === 'none') {
    // The content is the stored bytes: the sha256 we already compute is the diffID.
    if (!hashers.has('sha256')) hashers.set('sha256', createHash('sha256'));
    await pipeline(input, counter, new Writable({ write(_c, _e, cb) { cb(); } }), { signal: cancelSignal });
    const s = stored();
    return { size, stored: s, content: s.sha256, contentSize: size };
  }
  const content = createHash('sha256');
  let contentSize = 0;
  await pipeline(
    input,
    counter,
    (source: AsyncIterable<Buffer>) => decompress(Readable.from(source), opts.compression!, opts.subject),
    new Writable({
      write(chunk: Buffer, _e, cb) {
        contentSize += chunk.length;
        content.update(chunk);
        cb();
      },
    }),
    { signal: cancelSignal },
  );
  return { size, stored: stored(), content: `sha256:${content.digest('hex')}`, contentSize };
}
