import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32, crc32Combine } from '../../src/io/codecs.js';
import { parallelCompressor } from '../../src/io/parallel-compress.js';
import { CodecPool } from '../../src/io/workers.js';

const workers = CodecPool.forCompression();
afterAll(() => workers.close());

/** Compressible bytes: text-like runs with some noise. */
function sample(n: number): Buffer {
  const words = ['layer', 'diffid', 'sha256', 'usr/lib', 'x86_64', '\n', ' ', 'config', 'manifest'];
  const parts: string[] = [];
  let len = 0;
  let seed = 7;
  while (len < n) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const w = seed % 17 === 0 ? randomBytes(4).toString('hex') : words[seed % words.length];
    parts.push(w);
    len += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

async function compress(data: Buffer, codec: 'gzip' | 'zstd', pool: CodecPool, chunkSize: number, piece = 70_001): Promise<Buffer> {
  const out: Buffer[] = [];
  const c = parallelCompressor({ codec, level: codec === 'gzip' ? 6 : 3, pool, chunkSize });
  c.on('data', (d: Buffer) => out.push(Buffer.from(d)));
  const ended = new Promise((resolve, reject) => { c.on('end', resolve); c.on('error', reject); });
  Readable.from((function* () { for (let o = 0; o < data.length; o += piece) yield data.subarray(o, o + piece); })()).pipe(c);
  await ended;
  return Buffer.concat(out);
}

describe('parallel compression', () => {
  const chunk = 64 << 10;
  const sizes = [0, 1, chunk, 3 * chunk, 3 * chunk + 4321];

  it.each(sizes)('gzip of %i bytes: one valid gzip member, the same bytes with workers or without', async (n) => {
    const data = sample(n);
    const inline = await compress(data, 'gzip', CodecPool.inline(), chunk);
    const parallel = await compress(data, 'gzip', workers, chunk, 9_999);
    expect(parallel.equals(inline)).toBe(true);
    expect(gunzipSync(parallel).equals(data)).toBe(true);
    expect(inline.readUInt32LE(inline.length - 8)).toBe(crc32(data));
    // The 32 KiB priming keeps the size near one deflate stream's.
    if (n > chunk) expect(parallel.length).toBeLessThan(gzipSync(data, { level: 6 }).length * 1.02);
  });

  it.each(sizes)('zstd of %i bytes: frames that decode to the input, the same bytes with workers or without', async (n) => {
    const data = sample(n);
    const inline = await compress(data, 'zstd', CodecPool.inline(), chunk);
    const parallel = await compress(data, 'zstd', workers, chunk, 12_345);
    expect(parallel.equals(inline)).toBe(true);
    expect(parallel.subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    expect(Buffer.from(zstdDecompress(parallel)).equals(data)).toBe(true);
    const cli = spawnSync('zstd', ['-dc'], { input: parallel, maxBuffer: 1 << 26 });
    if (!cli.error) expect(cli.stdout.equals(data)).toBe(true); // the reference decoder agrees
  });

  it('CRC-32 of pieces combines into the CRC-32 of the whole', () => {
    const a = randomBytes(100_000);
    const b = randomBytes(77_777);
    expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(Buffer.concat([a, b])));
    expect(crc32Combine(crc32(a), crc32(Buffer.alloc(0)), 0)).toBe(crc32(a));
  });
});

describe('checks in the codec workers', () => {
  const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

  it('hash the stored bytes and the content of gzip and zstd layers, chunk by chunk', async () => {
    const content = sample(5 << 20);
    for (const [coding, stored] of [['gzip', gzipSync(content)], ['zstd', await compress(content, 'zstd', CodecPool.inline(), 1 << 20)]] as const) {
      for (const pool of [CodecPool.inline(), workers]) {
        const check = await pool.check({ algorithms: ['sha256'], content: coding }, stored.length);
        for (let o = 0; o < stored.length; o += 1 << 20) await check.write(stored.subarray(o, o + (1 << 20)));
        const r = await check.end();
        expect(r).toEqual({ size: stored.length, stored: { sha256: sha(stored) }, content: sha(content), contentSize: content.length });
      }
    }
  });

  it('say what is wrong with compressed data that does not decompress', async () => {
    const stored = gzipSync(sample(1 << 20));
    stored[stored.length >> 1] ^= 0xff;
    const check = await workers.check({ algorithms: ['sha256'], content: 'gzip' }, stored.length);
    await check.write(stored);
    const r = await check.end();
    expect(r.error).toMatch(/gzip data is corrupt/);
    expect(r.content).toBeUndefined();
  });

  it('read chunks straight into shared memory when the caller offers the buffer', async () => {
    const data = randomBytes(9 << 20);
    const check = await workers.check({ algorithms: ['sha256', 'sha512'] }, data.length);
    for (let o = 0; o < data.length;) {
      const buf = await check.buffer!();
      const n = data.copy(buf, 0, o, o + buf.length);
      await check.write(buf.subarray(0, n));
      o += n;
    }
    const r = await check.end();
    expect(r.stored.sha256).toBe(sha(data));
    expect(r.stored.sha512).toBe(`sha512:${createHash('sha512').update(data).digest('hex')}`);
  });
});
