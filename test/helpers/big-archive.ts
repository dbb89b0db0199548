import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { FdSink, TarWriter } from '../../src/io/tar-writer.js';
import { tarBuffer } from '../../src/testing/build.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * A docker-archive (docker save's layout: `<id>/layer.tar`, `<id>.json`, manifest.json last) of
 * one image whose layers each hold `layerBytes` of random (incompressible) bytes, written as it
 * is made: big inputs for the fault tests without holding them in memory.
 */
export async function writeRandomArchive(path: string, name: string, layers: number, layerBytes: number): Promise<void> {
  const fd = openSync(path, 'w');
  try {
    const w = new TarWriter(new FdSink(fd));
    const diffIds: string[] = [];
    const paths: string[] = [];
    for (let i = 0; i < layers; i++) {
      const layer = await tarBuffer([{ name: `data/${name.replace(/\W/g, '-')}-${i}.bin`, data: randomBytes(layerBytes) }]);
      const diffId = sha256(layer);
      const dir = diffId.slice(7);
      await w.addDirectory(`${dir}/`);
      await w.addBuffer(`${dir}/VERSION`, '1.0');
      await w.addBuffer(`${dir}/json`, JSON.stringify({ id: dir }));
      await w.addBuffer(`${dir}/layer.tar`, layer);
      diffIds.push(diffId);
      paths.push(`${dir}/layer.tar`);
    }
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
    const id = sha256(config).slice(7);
    await w.addBuffer(`${id}.json`, config);
    await w.addBuffer('manifest.json', JSON.stringify([{ Config: `${id}.json`, RepoTags: [name], Layers: paths }]));
    await w.finish();
  } finally {
    closeSync(fd);
  }
}
