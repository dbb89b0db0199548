/** Reading a registry's JSON answers within imgpack's size limit. */
import { invalid } from '../../errors.js';
import type { HttpResponse } from './transport.js';

/** A manifest from a registry is JSON like any other: held to the same size limit (IMGPACK_MAX_JSON). */
export async function readCapped(res: HttpResponse, limit: number, subject: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += (c as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw invalid('limit-json-size', `the registry sent a manifest larger than ${limit} bytes (IMGPACK_MAX_JSON): refused`, subject);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
