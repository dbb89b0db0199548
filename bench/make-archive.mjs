#!/usr/bin/env node
/**
 * Writes a large docker-archive (as `docker save` does: per-layer dirs, uncompressed layers) of
 * random-content layers, streaming, for benchmarks:
 *   node bench/make-archive.mjs OUT.tar [--size 1G] [--images 20] [--layers-per-image 100]
 * Each layer is a tar holding one random file; image i shares its first layer with image 0.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { FdSink, TarWriter } from '../dist/io/tar-writer.js';

const args = process.argv.slice(2);
const out = args[0];
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const parseSize = (s) => { const m = /^(\d+)([KMG]?)$/.exec(s); return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]]; };
const total = parseSize(opt('--size', '1G'));
const images = Number(opt('--images', '20'));
const perImage = Number(opt('--layers-per-image', '100'));
const layerCount = images * perImage - (images - 1);
const layerBytes = Math.floor(total / layerCount / 512) * 512;

function layerTar(payload, name) {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116);
  h.write(payload.length.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136); h.write('0', 156); h.write('ustar\u000000', 257, 'latin1');
  h.fill(32, 148, 156);
  let sum = 0; for (const x of h) sum += x;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return Buffer.concat([h, payload, Buffer.alloc((512 - (payload.length % 512)) % 512), Buffer.alloc(1024)]);
}
const sha = (b) => 'sha256:' + createHash('sha256').update(b).digest('hex');

const fd = openSync(out, 'w');
const w = new TarWriter(new FdSink(fd));
const manifest = [];
let shared;
for (let i = 0; i < images; i++) {
  const layers = [];
  const diffIds = [];
  for (let j = 0; j < perImage; j++) {
    if (i > 0 && j === 0) { layers.push(shared.path); diffIds.push(shared.diffId); continue; }
    const tar = layerTar(randomBytes(layerBytes), `data/${i}-${j}.bin`);
    const diffId = sha(tar);
    const dir = diffId.slice(7);
    await w.addDirectory(`${dir}/`);
    await w.addBuffer(`${dir}/VERSION`, '1.0');
    await w.addBuffer(`${dir}/json`, JSON.stringify({ id: dir }));
    await w.addBuffer(`${dir}/layer.tar`, tar);
    layers.push(`${dir}/layer.tar`);
    diffIds.push(diffId);
    if (i === 0 && j === 0) shared = { path: `${dir}/layer.tar`, diffId };
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const id = sha(config).slice(7);
  await w.addBuffer(`${id}.json`, config);
  manifest.push({ Config: `${id}.json`, RepoTags: [`bench/image${i}:latest`], Layers: layers });
}
await w.addBuffer('manifest.json', JSON.stringify(manifest));
await w.finish();
closeSync(fd);
console.log(`${out}: ${images} images, ${layerCount} layers of ${layerBytes} bytes`);
