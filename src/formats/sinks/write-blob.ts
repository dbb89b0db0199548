import { Readable } from 'node:stream';
import type { TreeWriter } from '../../io/output.js';
import type { BlobInfo, Sink } from './sink.js';

/** Writes one blob's bytes under `path`, from a buffer, a stream or a file range. */
export async function writeBlob(out: TreeWriter, path: string, info: BlobInfo, open: Parameters<Sink['putBlob']>[1]): Promise<void> {
  const data = await open();
  if (Buffer.isBuffer(data)) await out.addFile(path, data);
  else if ('kind' in data && data.kind === 'range') await out.addRange(path, data);
  else await out.addStream(path, info.size, data instanceof Readable ? data : Readable.from(data as AsyncIterable<Uint8Array>));
}
