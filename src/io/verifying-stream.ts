/**
 * Checks a blob while it streams: its digest and size must match the descriptor by the time the
 * last byte has passed, or the stream fails (and whatever was being written is abandoned).
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { invalid, sizeMismatch } from '../errors.js';
import { algorithmOf } from '../model/digest.js';

export class VerifyingStream extends Transform {
  private readonly hash;
  private bytes = 0;
  constructor(private readonly digest: string, private readonly size: number | undefined, private readonly subject: string) {
    super({ highWaterMark: 1 << 20 });
    this.hash = createHash(algorithmOf(digest));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.size !== undefined && this.bytes > this.size) {
      cb(invalid('size-mismatch', `blob is larger than its descriptor's ${this.size} bytes`, this.subject));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.size !== undefined && this.bytes !== this.size) {
      cb(invalid('size-mismatch', sizeMismatch('blob', this.bytes, this.size), this.subject));
      return;
    }
    const actual = `${algorithmOf(this.digest)}:${this.hash.digest('hex')}`;
    if (actual !== this.digest) {
      cb(invalid('digest-mismatch', `blob content has digest ${actual}, not ${this.digest}: the input is corrupt`, this.subject));
      return;
    }
    cb();
  }
}
