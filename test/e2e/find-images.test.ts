/**
 * The find-images command: one reference a line, sorted, each once; --json; problems as one line
 * each on stderr naming file:line; exit 1 when something could not be read, 2 for usage; standard
 * input from a real pipe.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { runProcess } from '../helpers/spawn.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const dir = tempDir();
const pod = (name: string, ...images: string[]) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n${images.map((img, i) => `  - name: c${i}\n    image: ${img}\n`).join('')}`;
const manifests = writeTemp(dir, 'app.yaml', `${pod('a', 'redis:7', 'nginx:1.27')}---\n${pod('b', 'nginx:1.27', `ghcr.io/org/app@sha256:${'e'.repeat(64)}`)}`);

describe('find-images', () => {
  it('prints each reference once, as written, sorted; exit 0', async () => {
    const r = await runCli('find-images', manifests);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`ghcr.io/org/app@sha256:${'e'.repeat(64)}\nnginx:1.27\nredis:7\n`);
  });

  it('--json: the normalised form and where each was found', async () => {
    const r = await runCli('find-images', manifests, '--json');
    expect(r.code).toBe(0);
    const nginx = r.json().references.find((x: { reference: string }) => x.reference === 'nginx:1.27');
    expect(nginx).toEqual({
      reference: 'nginx:1.27',
      normalized: 'docker.io/library/nginx:1.27',
      locations: [
        { file: manifests, document: 1, line: 10, kind: 'Pod', name: 'a', container: 'c1', field: 'containers' },
        { file: manifests, document: 2, line: 19, kind: 'Pod', name: 'b', container: 'c0', field: 'containers' },
      ],
    });
    expect(r.json().problems).toEqual([]);
  });

  it('a broken document: one line naming file:line on stderr, the others printed, exit 1', async () => {
    const file = writeTemp(dir, 'broken.yaml', `${pod('a', 'redis:7')}---\nkind: Pod\nspec: [\n---\n${pod('c', 'alpine:3')}`);
    const r = await runCli('find-images', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('alpine:3\nredis:7\n');
    expect(r.stderr).toMatch(new RegExp(`^imgpack: not valid YAML: .+ \\(${file}:11\\)\\n$`));
  });

  it('--json with a problem: the problem in the document, nothing on stderr, exit 1', async () => {
    const file = writeTemp(dir, 'broken-json.yaml', `${pod('a', 'redis:7')}---\n[`);
    const r = await runCli('find-images', file, '--json');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.json().references.map((x: { reference: string }) => x.reference)).toEqual(['redis:7']);
    expect(r.json().problems).toEqual([expect.objectContaining({ file, line: 10, document: 2, code: 'yaml-invalid', severity: 'error' })]);
  });

  it('warnings (an unset compose variable) keep exit 0; --quiet hides them', async () => {
    const file = writeTemp(dir, 'compose.yaml', 'services:\n  web:\n    image: ${FIND_IMAGES_TEST_UNSET}/web:1\n');
    const r = await runCli('find-images', file);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('${FIND_IMAGES_TEST_UNSET}/web:1\n');
    expect(r.stderr).toBe(`imgpack: warning: variable FIND_IMAGES_TEST_UNSET is not set (neither in the environment nor in .env): 1 image reference listed as written (${file}:3)\n`);
    const quiet = await runCli('--quiet', 'find-images', file);
    expect(quiet.stderr).toBe('');
  });

  it('a missing path: exit 2, one line', async () => {
    const r = await runCli('find-images', join(dir, 'absent'));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`imgpack: no such file or directory (${join(dir, 'absent')})\n`);
  });

  it('standard input (helm template ... | imgpack find-images -); problems there name "standard input"', () => {
    const ok = runProcess(['find-images', '-'], {}, Buffer.from(`---\n# Source: x/templates/pod.yaml\n${pod('a', 'busybox:1.36')}`));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('busybox:1.36\n');
    const bad = runProcess(['find-images', '-'], {}, Buffer.from('kind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('imgpack: an unrendered template ({{ }}): render it first (helm template CHART | imgpack find-images -) (standard input:3)\n');
  });
});
