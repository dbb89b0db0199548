/**
 * Property-based tests (fast-check) over the tar index, reference and digest parsing and the
 * readers, and the mutation corpus (test/hostile/corpus): every truncation and every flipped
 * content byte of a seed archive is caught by verify and named; random mutations never crash a
 * reader. Counts are reduced in CI; IMGPACK_STRESS=1 (npm run test:stress) runs the full ones.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ImgpackError } from '../../src/errors.js';
import { indexTarFile, nameProblem } from '../../src/io/tar-index.js';
import { blobPath, digestProblem, parseDigest } from '../../src/model/digest.js';
import { formatFull, parseReference, ReferenceError } from '../../src/model/reference.js';
import { verifyPath } from '../../src/ops/verify.js';
import { content, END, header } from '../helpers/raw-tar.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';
import { seeds } from './corpus/make-corpus.js';

const STRESS = process.env.IMGPACK_STRESS === '1';
const runs = (ci: number, stress: number) => ({ numRuns: STRESS ? stress : ci, seed: STRESS ? undefined : 8 });
const dir = tempDir();
const corpus = (name: string) => readFileSync(new URL(`corpus/${name}`, import.meta.url));
const SEEDS = ['docker-archive.tar', 'hybrid.tar', 'oci-archive.tar'];
let n = 0;
const temp = (data: Buffer) => writeTemp(dir, `m-${n++}.tar`, data);

/** verify never throws for a damaged input: it reports. Anything thrown must be an ImgpackError. */
async function verifySafely(data: Buffer) {
  try {
    return await verifyPath(temp(data));
  } catch (e) {
    expect(e).toBeInstanceOf(ImgpackError);
    return undefined;
  }
}

describe('the mutation corpus', () => {
  it('is what make-corpus.ts makes (deterministic, small)', async () => {
    for (const [name, data] of Object.entries(await seeds())) {
      expect(corpus(name).equals(data), name).toBe(true);
      expect(data.length).toBeLessThan(64 * 1024);
    }
  });

  it.each(SEEDS)('%s: every seed verifies', async (name) => {
    expect((await verifyPath(join(new URL('corpus', import.meta.url).pathname, name))).problems).toEqual([]);
  });

  it.each(SEEDS)('%s: truncated at every 512-byte boundary and inside every block, verify fails and says truncated first', async (name) => {
    const data = corpus(name);
    const idx = await indexTarFile(temp(data));
    const last = idx.entries[idx.entries.length - 1];
    // Every member whole, the end blocks cut (in part or all): GNU tar, Python's tarfile and Go's
    // archive/tar read such a file without a word, and so does verify (a warning at most).
    const contentEnd = last.dataOffset + Math.ceil(last.size / 512) * 512;
    const cuts = new Set<number>();
    for (let off = 0; off < data.length; off += 512) for (const d of STRESS ? [0, 1, 100, 148, 156, 257, 511] : [0, 1, 300]) if (off + d < data.length) cuts.add(off + d);
    for (const cut of cuts) {
      const r = await verifySafely(data.subarray(0, cut));
      if (cut >= contentEnd) {
        expect(r?.problems, `cut at ${cut}, after the last member`).toEqual([]);
        continue;
      }
      // On a member boundary, when what is left is a whole archive in itself (only members that
      // nothing names are lost: docker's `repositories`; or manifest.json after a complete OCI
      // layout), it is read as one, with a warning that its end blocks are missing.
      if (idx.entries.some((e) => e.headerOffset === cut) && r?.ok) {
        expect(r.warnings.map((w) => w.code), `cut at ${cut}`).toContain('tar-no-end');
        continue;
      }
      expect(r?.ok ?? false, `cut at ${cut}`).toBe(false);
      if (cut >= 512) expect(r?.problems[0]?.code, `cut at ${cut}: ${JSON.stringify(r?.problems)}`).toBe('truncated');
    }
  });

  // Blobs, layers and configs are pinned by digests; a flipped byte there must be caught and named.
  // (Names and annotations in manifest.json/index.json are not pinned by any digest inside an
  // archive: whole-archive integrity is the transfer manifest's sha256, see the volumes tests.)
  const pinned = (n: string) => n.startsWith('blobs/') || n.endsWith('layer.tar') || /^[0-9a-f]{64}\.json$/.test(n);
  it.each(SEEDS)('%s: every flipped byte of every blob, layer and config is caught and the member or digest named', async (name) => {
    const data = corpus(name);
    const idx = await indexTarFile(temp(data));
    const stride = STRESS ? 1 : 37;
    let flips = 0;
    for (const e of idx.entries.filter((x) => x.type === 'file' && x.size > 0 && pinned(x.name))) {
      for (let i = 0; i < e.size; i += stride) {
        const bad = Buffer.from(data);
        bad[e.dataOffset + i] ^= 0x20;
        const r = await verifySafely(bad);
        expect(r?.ok, `${e.name} byte ${i}`).toBe(false);
        // Named: the member, or the digest of the blob that holds it.
        if (r) expect(r.problems.some((p) => p.subject === e.name || e.name.endsWith(p.subject.slice(p.subject.indexOf(':') + 1)) || p.message.includes(e.name)), `${e.name} byte ${i}: ${JSON.stringify(r.problems)}`).toBe(true);
        flips++;
      }
    }
    expect(flips).toBeGreaterThan(10);
  });

  it.each(SEEDS)('%s: a flipped byte in any header is caught (checksum, or the member it renames)', async (name) => {
    const data = corpus(name);
    const idx = await indexTarFile(temp(data));
    for (const e of idx.entries) {
      for (const field of [0, 100, 124, 148, 156]) {
        const bad = Buffer.from(data);
        bad[e.headerOffset + field] ^= 0x01;
        const r = await verifySafely(bad);
        expect(r?.ok, `${e.name} header byte ${field}`).toBe(false);
      }
    }
  });

  it.each(SEEDS)('%s: trailing garbage after the end is a warning, not a silent change', async (name) => {
    const r = await verifySafely(Buffer.concat([corpus(name), Buffer.from('garbage'.repeat(100))]));
    expect(r?.warnings.map((w) => w.code)).toContain('tar-trailing-garbage');
  });

  it('random mutations (flips, overwrites, cuts, garbage) never crash verify, inspect or convert', async () => {
    const seedsData = SEEDS.map(corpus);
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 2000 }) }),
    );
    const { runCli } = await import('../helpers/cli.js');
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: seedsData.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (s, muts) => {
      let data = Buffer.from(seedsData[s]);
      for (const m of muts) {
        if (m.kind === 'flip') data[m.at % data.length] ^= 1 << m.bit;
        else if (m.kind === 'overwrite') Buffer.from(m.bytes).copy(data, m.at % data.length);
        else if (m.kind === 'cut') data = data.subarray(0, m.at % data.length);
        else data = Buffer.concat([data, Buffer.from(m.bytes)]);
      }
      const file = temp(data);
      for (const args of [['verify', file], ['inspect', file, '--json'], ['convert', file, '-o', `${file}.out`]]) {
        const r = await runCli(...args);
        expect(r.stderr).not.toMatch(/unexpected error/);
        expect([0, 1]).toContain(r.code);
      }
    }), runs(40, 400));
  });
});

describe('the tar index', () => {
  const name = fc.array(fc.constantFrom('a', 'b', '.', '..', '', 'x.wh', '/', '\u00e9'), { minLength: 1, maxLength: 6 }).map((p) => p.join('/')).filter((s) => Buffer.byteLength(s) < 100 && s.length > 0);
  it('names are normalised and safe, or reported; offsets stay inside the file; content reads back', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.record({ name, data: fc.uint8Array({ maxLength: 1500 }) }), { minLength: 1, maxLength: 8 }), async (members) => {
      const tar = Buffer.concat([...members.flatMap((m) => [header(m.name, { size: m.data.length }), content(Buffer.from(m.data))]), END]);
      const file = temp(tar);
      const idx = await indexTarFile(file);
      expect(idx.entries.length).toBe(members.length);
      idx.entries.forEach((e, i) => {
        const unsafe = nameProblem(e.rawName);
        if (unsafe) expect(idx.problems.some((p) => p.code === 'tar-unsafe-name')).toBe(true);
        else if (e.name !== '') { // '' is the root ('.' or './')
          expect(e.name.startsWith('/') || e.name.split('/').includes('..') || e.name.split('/').includes('')).toBe(false);
          expect(e.dataOffset + e.size).toBeLessThanOrEqual(tar.length);
          expect(tar.subarray(e.dataOffset, e.dataOffset + e.size).equals(Buffer.from(members[i].data))).toBe(true);
        }
      });
    }), runs(100, 2000));
  });

  it('random bytes and random cuts: never throws, offsets inside the file', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 4096 }), async (bytes) => {
      const idx = await indexTarFile(temp(Buffer.from(bytes)));
      for (const e of idx.entries) expect(e.headerOffset).toBeLessThan(Math.max(bytes.length, 1));
    }), runs(100, 2000));
  });

  it('sizes of 8 GiB and more (base-256 and PAX) are read exactly', async () => {
    await fc.assert(fc.asyncProperty(fc.bigInt({ min: 8n << 30n, max: 1n << 50n }), async (size) => {
      const a = await indexTarFile(temp(Buffer.concat([header('big', { base256Size: size })])));
      expect(a.entries[0].size).toBe(Number(size));
      expect(a.problems.map((p) => p.code)).toEqual(['tar-truncated']); // the content is not there, and that is said
      const body = ` size=${size}\n`.length;
      let len = body + 1;
      while (String(len).length + body !== len) len = String(len).length + body;
      const rec = Buffer.from(`${len} size=${size}\n`);
      const b = await indexTarFile(temp(Buffer.concat([header('pax', { type: 'x', size: rec.length }), content(rec), header('big', { size: 0 })])));
      expect(b.entries[0].size).toBe(Number(size));
    }), runs(30, 300));
  });
});

describe('digests', () => {
  const VALID = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;
  it('exactly sha256/sha512 with lower-case hex of the right length are accepted; blob paths never climb', () => {
    const hexish = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF./:g'.split('')), maxLength: 130 });
    const candidate = fc.oneof(
      fc.tuple(fc.constantFrom('sha256', 'sha512', 'SHA256', 'md5', 'sha384', '..', ''), hexish).map(([a, h]) => `${a}:${h}`),
      fc.string(),
      fc.constantFrom(64, 128).chain((len) => fc.tuple(fc.constantFrom('sha256', 'sha512'), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: len, maxLength: len }))).map(([a, h]) => `${a}:${h}`),
    );
    fc.assert(fc.property(candidate, (d) => {
      const ok = digestProblem(d) === undefined;
      expect(ok).toBe(VALID.test(d));
      if (ok) {
        expect(blobPath(d)).toMatch(/^blobs\/sha(256|512)\/[0-9a-f]+$/);
      } else {
        expect(() => parseDigest(d)).toThrow(ImgpackError);
      }
    }), runs(2000, 50_000));
  });
});

describe('references', () => {
  it('parse either fails with a ReferenceError or gives a reference that formats and re-parses to itself', () => {
    const part = fc.string({ unit: fc.constantFrom(...'abz09.-_:/@'.split('')), minLength: 1, maxLength: 20 });
    const ref = fc.oneof(fc.string({ maxLength: 80 }), fc.array(part, { minLength: 1, maxLength: 4 }).map((p) => p.join('/')));
    fc.assert(fc.property(ref, (s) => {
      let r;
      try {
        r = parseReference(s);
      } catch (e) {
        expect(e).toBeInstanceOf(ReferenceError);
        return;
      }
      const full = formatFull(r);
      expect(formatFull(parseReference(full))).toBe(full);
      expect(full.startsWith('/') || full.includes('..') && !r.tag?.includes('..')).toBe(false);
    }), runs(3000, 100_000));
  });
});
