/**
 * Parity volumes: a systematic Reed-Solomon erasure code over GF(256), so that any N lost or
 * corrupt volumes of a set (data or parity) can be rebuilt from the others, byte for byte.
 *
 * The code (written here: no maintained pure-JS package fits, and it is small):
 * - GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d);
 * - k data shards (the volumes FILE.001..) zero-padded to `shardSize` (the first volume's size),
 *   m parity shards FILE.p01..FILE.p0m of `shardSize` bytes;
 * - parity byte t of shard i = XOR over j of C[i][j] * data_j[t], with the Cauchy matrix
 *   C[i][j] = 1 / ((k + i) XOR j). Every square submatrix of a Cauchy matrix is invertible, so
 *   [identity; C] is MDS: any k of the k + m shards determine the rest (k + m <= 256).
 * Work goes in stripes of 64 KiB across all shards: memory is (k + m) * 64 KiB, whatever the size.
 */
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { checkpoint } from './cancel.js';

export const PARITY_SCHEME = 'reed-solomon-gf256-cauchy';
const STRIPE = 64 * 1024;

export interface ParityInfo {
  scheme: typeof PARITY_SCHEME;
  /** Every shard's length for the code: data volumes shorter than this count as zero-padded. */
  shardSize: number;
  volumes: { name: string; size: number; sha256: string }[];
}

export function parityName(target: string, i: number): string {
  return `${target}.p${String(i + 1).padStart(2, '0')}`;
}

// ---- GF(256) ----------------------------------------------------------------------------------
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
}
function mul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]];
}
function inv(a: number): number {
  if (a === 0) throw new Error('GF(256): 0 has no inverse');
  return EXP[255 - LOG[a]];
}
/** MUL[c * 256 + b] = c * b: one table row per coefficient makes the inner loop a lookup and XOR. */
const MUL = new Uint8Array(256 * 256);
for (let c = 0; c < 256; c++) for (let b = 0; b < 256; b++) MUL[c * 256 + b] = mul(c, b);

/** acc[t] ^= c * src[t] for t < n. */
function mulAdd(acc: Uint8Array, src: Uint8Array, c: number, n: number): void {
  if (c === 0) return;
  if (c === 1) {
    for (let t = 0; t < n; t++) acc[t] ^= src[t];
    return;
  }
  const row = MUL.subarray(c * 256, c * 256 + 256);
  for (let t = 0; t < n; t++) acc[t] ^= row[src[t]];
}

/** Row `shard` of the generator matrix [identity_k; C]: how a shard depends on the data shards. */
function generatorRow(shard: number, k: number): number[] {
  if (shard < k) return Array.from({ length: k }, (_, j) => (j === shard ? 1 : 0));
  const i = shard - k;
  return Array.from({ length: k }, (_, j) => inv((k + i) ^ j));
}

/** Gauss-Jordan inversion over GF(256); the rows chosen are always invertible (MDS). */
function invert(matrix: number[][]): number[][] {
  const n = matrix.length;
  const a = matrix.map((row, r) => [...row, ...Array.from({ length: n }, (_, c) => (c === r ? 1 : 0))]);
  for (let col = 0; col < n; col++) {
    const pivot = a.findIndex((row, r) => r >= col && row[col] !== 0);
    if (pivot < 0) throw new Error('parity matrix is singular');
    [a[col], a[pivot]] = [a[pivot], a[col]];
    const scale = inv(a[col][col]);
    a[col] = a[col].map((v) => mul(v, scale));
    for (let r = 0; r < n; r++) {
      if (r === col || a[r][col] === 0) continue;
      const f = a[r][col];
      a[r] = a[r].map((v, c) => v ^ mul(f, a[col][c]));
    }
  }
  return a.map((row) => row.slice(n));
}

export function checkShardCount(dataVolumes: number, parity: number): string | undefined {
  if (!Number.isInteger(parity) || parity < 1) return 'parity must be a whole number of volumes, at least 1';
  if (dataVolumes + parity > 256) return `Reed-Solomon over GF(256) covers at most 256 volumes: ${dataVolumes} data + ${parity} parity is too many; use bigger volumes`;
  return undefined;
}

function readChunk(fd: number, buf: Uint8Array, n: number, pos: number, fileSize: number): void {
  const want = Math.max(0, Math.min(n, fileSize - pos));
  let got = 0;
  while (got < want) {
    const r = readSync(fd, buf, got, want - got, pos + got);
    if (r === 0) break;
    got += r;
  }
  buf.fill(0, got, n); // a shorter (last) volume counts as zero-padded
}

function writeAll(fd: number, buf: Uint8Array, n: number, pos: number): void {
  let off = 0;
  while (off < n) off += writeSync(fd, buf, off, n - off, pos + off);
}

/**
 * Writes m parity shards for the data files into `outputs` (created, fsynced; the caller renames
 * them into place) and returns each one's sha256.
 */
export async function encodeParity(data: { path: string; size: number }[], outputs: string[]): Promise<{ size: number; sha256: string }[]> {
  const k = data.length;
  const m = outputs.length;
  const shardSize = Math.max(...data.map((d) => d.size));
  const coefficients = Array.from({ length: m }, (_, i) => generatorRow(k + i, k));
  const inFds = data.map((d) => openSync(d.path, 'r'));
  const outFds: number[] = [];
  try {
    for (const o of outputs) outFds.push(openSync(o, 'wx'));
    const hashes = outputs.map(() => createHash('sha256'));
    const dataBufs = data.map(() => new Uint8Array(STRIPE));
    const parityBufs = outputs.map(() => new Uint8Array(STRIPE));
    for (let pos = 0; pos < shardSize; pos += STRIPE) {
      await checkpoint(); // all arithmetic and synchronous I/O: signals come in here
      const n = Math.min(STRIPE, shardSize - pos);
      data.forEach((d, j) => readChunk(inFds[j], dataBufs[j], n, pos, d.size));
      for (let i = 0; i < m; i++) {
        const p = parityBufs[i];
        p.fill(0, 0, n);
        for (let j = 0; j < k; j++) mulAdd(p, dataBufs[j], coefficients[i][j], n);
        writeAll(outFds[i], p, n, pos);
        hashes[i].update(p.subarray(0, n));
      }
    }
    for (const fd of outFds) fsyncSync(fd);
    return hashes.map((h) => ({ size: shardSize, sha256: `sha256:${h.digest('hex')}` }));
  } finally {
    for (const fd of [...inFds, ...outFds]) closeSync(fd);
  }
}

export interface Shard {
  path: string;
  /** The shard's true length (a data volume's size; shardSize for parity). */
  size: number;
  good: boolean;
  /** Where a rebuilt shard is written (for the bad ones). */
  output?: string;
}

/**
 * Rebuilds the bad shards (data first, k of them, then parity, m) from k good ones, stripe by
 * stripe, into their `output` files. Returns each rebuilt shard's sha256, by shard index.
 */
export async function rebuildShards(shards: Shard[], k: number, shardSize: number): Promise<Map<number, string>> {
  const bad = shards.map((s, i) => (s.good ? -1 : i)).filter((i) => i >= 0);
  const good = shards.map((s, i) => (s.good ? i : -1)).filter((i) => i >= 0);
  if (good.length < k) throw new Error(`${bad.length} volumes are damaged, more than the parity can rebuild`);
  // Any k good shards will do; data shards first, since they need no arithmetic.
  const chosen = [...good.filter((i) => i < k), ...good.filter((i) => i >= k)].slice(0, k);
  const decode = invert(chosen.map((i) => generatorRow(i, k)));
  const parityRows = new Map(bad.filter((i) => i >= k).map((i) => [i, generatorRow(i, k)]));
  const inFds = new Map(chosen.map((i) => [i, openSync(shards[i].path, 'r')]));
  const outFds = new Map<number, number>();
  const hashes = new Map<number, Hash>();
  try {
    for (const i of bad) {
      outFds.set(i, openSync(shards[i].output!, 'wx'));
      hashes.set(i, createHash('sha256'));
    }
    const chosenBufs = chosen.map(() => new Uint8Array(STRIPE));
    const dataBufs = Array.from({ length: k }, () => new Uint8Array(STRIPE));
    const out = new Uint8Array(STRIPE);
    for (let pos = 0; pos < shardSize; pos += STRIPE) {
      await checkpoint();
      const n = Math.min(STRIPE, shardSize - pos);
      chosen.forEach((i, r) => readChunk(inFds.get(i)!, chosenBufs[r], n, pos, shards[i].size));
      // Every data shard for this stripe: data = decode x chosen.
      for (let j = 0; j < k; j++) {
        const d = dataBufs[j];
        d.fill(0, 0, n);
        for (let r = 0; r < k; r++) mulAdd(d, chosenBufs[r], decode[j][r], n);
      }
      for (const i of bad) {
        let bytes: Uint8Array;
        if (i < k) {
          bytes = dataBufs[i];
        } else {
          out.fill(0, 0, n);
          const row = parityRows.get(i)!;
          for (let j = 0; j < k; j++) mulAdd(out, dataBufs[j], row[j], n);
          bytes = out;
        }
        const len = Math.max(0, Math.min(n, shards[i].size - pos)); // a short data volume ends early
        if (len === 0) continue;
        writeAll(outFds.get(i)!, bytes, len, pos);
        hashes.get(i)!.update(bytes.subarray(0, len));
      }
    }
    for (const fd of outFds.values()) fsyncSync(fd);
    return new Map([...hashes].map(([i, h]) => [i, `sha256:${h.digest('hex')}`]));
  } finally {
    for (const fd of [...inFds.values(), ...outFds.values()]) closeSync(fd);
  }
}
