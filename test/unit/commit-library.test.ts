/**
 * commit as a library call (issue 17: the CLI only parses, calls and prints): a new image from
 * scratch and a directory, and one on top of a base, written with writePlan and read back.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitImage, openSource, resolveOutput, rootsOf, writePlan } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();

describe('commitImage', () => {
  it('makes an image from scratch and files, then one on top of it, with no CLI', async () => {
    const files = join(dir, 'site');
    mkdirSync(files);
    writeFileSync(join(files, 'index.html'), '<h1>hi</h1>\n');
    const first = await commitImage(undefined, { adds: [`${files}:/data/html`], removes: [], changes: ['CMD ["/bin/httpd","-f"]'], compress: 'gzip', sourceDateEpoch: 0, names: ['docker.io/library/site:1'] });
    const out = join(dir, 'site.tar');
    await writePlan({ roots: rootsOf(first.source) }, resolveOutput(out, {}), {});
    await first.source.close();
    const written = await openSource(out);
    const image = written.catalog.images[0];
    expect(image.id).toBe(first.image);
    expect(image.repoTags).toEqual(['docker.io/library/site:1']);
    expect(image.config.json.config?.Cmd).toEqual(['/bin/httpd', '-f']);
    expect(image.manifests[0].layers).toHaveLength(1);

    const second = await commitImage(written, { adds: [], removes: ['/data/html/index.html'], changes: ['ENV A=1'], compress: 'none', sourceDateEpoch: 0, names: ['docker.io/library/site:2'] });
    const layers = second.source.catalog.images[0].manifests[0].layers;
    expect(layers).toHaveLength(2); // the base's layer, and a whiteout
    expect(second.source.catalog.images[0].config.json.config?.Env).toContain('A=1');
    await second.source.close();
    await written.close();
  });
});
