/**
 * find-images as a library: Kubernetes kinds and Lists, rendered and unrendered Helm output,
 * kustomizations (the cases kubectl kustomize agrees with, see test/interop/find-images.test.ts),
 * compose interpolation and .env, directory search.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { findImages, type FindImagesResult } from '../../src/ops/find-images.js';
import { interpolate, parseDotEnv } from '../../src/ops/manifests/compose.js';
import { isImageMatched, splitImage } from '../../src/ops/manifests/kustomize.js';
import { ImgpackError } from '../../src/errors.js';
import { KUSTOMIZE_CASES, writeCase } from '../helpers/kustomize-cases.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();
let n = 0;
/** Writes files under a fresh folder; returns it. */
function tree(files: Record<string, string>): string {
  const root = join(dir, `t${n++}`);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}
const refs = (r: FindImagesResult) => r.references.map((x) => x.reference);
const codes = (r: FindImagesResult) => r.problems.map((p) => p.code);
const stdin = (text: string) => Readable.from([Buffer.from(text)]);

const podSpec = (indent: string, image: string, extra = '') => `${indent}containers:\n${indent}- name: main\n${indent}  image: ${image}\n${extra}`;

describe('Kubernetes objects', () => {
  it('every workload kind, its containers, initContainers and ephemeralContainers; each reference once, sorted', async () => {
    const docs = [
      `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n${podSpec('  ', 'pod:1', '  initContainers:\n  - name: init\n    image: init:1\n  ephemeralContainers:\n  - name: debug\n    image: debug:1\n')}`,
      ...['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job'].map((k) => `kind: ${k}\nmetadata: {name: ${k.toLowerCase()}}\nspec:\n  template:\n    spec:\n${podSpec('      ', `${k.toLowerCase()}:1`)}`),
      `kind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n${podSpec('          ', 'cronjob:1')}`,
      `kind: PodTemplate\nmetadata: {name: t}\ntemplate:\n  spec:\n${podSpec('    ', 'podtemplate:1')}`,
      `kind: Deployment\nmetadata: {name: again}\nspec:\n  template:\n    spec:\n${podSpec('      ', 'pod:1')}`,
      'kind: ConfigMap\nmetadata: {name: cm}\ndata:\n  image: not-an-image:1\n',
      'kind: CustomResourceDefinition\nspec:\n  containers:\n  - image: crd:1\n',
    ];
    const r = await findImages([tree({ 'all.yaml': docs.join('---\n') }) + '/all.yaml'], { env: {} });
    expect(refs(r)).toEqual(['cronjob:1', 'daemonset:1', 'debug:1', 'deployment:1', 'init:1', 'job:1', 'pod:1', 'podtemplate:1', 'replicaset:1', 'replicationcontroller:1', 'statefulset:1']);
    expect(r.problems).toEqual([]);
    const pod = r.references.find((x) => x.reference === 'pod:1')!;
    expect(pod.normalized).toBe('docker.io/library/pod:1');
    expect(pod.locations.map((l) => [l.document, l.line, l.kind, l.name, l.container, l.field])).toEqual([
      [1, 7, 'Pod', 'p', 'main', 'containers'],
      [10, 95, 'Deployment', 'again', 'main', 'containers'],
    ]);
    expect(r.references.find((x) => x.reference === 'debug:1')!.locations[0].field).toBe('ephemeralContainers');
  });

  it('List kinds (List, DeploymentList), JSON documents, image volumes, aliases and merge keys', async () => {
    const list = `apiVersion: v1\nkind: List\nitems:\n- kind: DeploymentList\n  items:\n  - kind: Deployment\n    metadata: {name: d}\n    spec:\n      template:\n        spec:\n${podSpec('          ', 'listed:1')}- kind: Pod\n  spec:\n    containers: []\n    volumes:\n    - name: models\n      image: {reference: 'registry.local:5000/models:v1', pullPolicy: IfNotPresent}\n`;
    const json = '{"kind": "Pod", "metadata": {"name": "j"}, "spec": {"containers": [{"name": "x", "image": "quay.io/json/image@sha256:' + 'c'.repeat(64) + '"}]}}\n';
    const merged = 'kind: Pod\nmetadata: {name: m}\nx-common: &common {name: c, image: "merged:1"}\nx-img: &img aliased:1\nspec:\n  containers:\n  - <<: *common\n  - name: aliased\n    image: *img\n';
    const lost = 'kind: Pod\nspec:\n  containers:\n  - name: aliased\n    image: *img\n';
    const r = await findImages([tree({ 'a.yaml': `${list}---\n${json}---\n${merged}---\n${lost}` }) + '/a.yaml'], { env: {} });
    expect(refs(r)).toEqual(['aliased:1', 'listed:1', 'merged:1', `quay.io/json/image@sha256:${'c'.repeat(64)}`, 'registry.local:5000/models:v1']);
    // An alias names an anchor of its own document only: *img of document 4 has none.
    expect(codes(r)).toEqual(['yaml-invalid']);
    const volume = r.references.find((x) => x.reference.startsWith('registry.local'))!;
    expect(volume.normalized).toBe('registry.local:5000/models:v1');
    expect(volume.locations[0]).toMatchObject({ kind: 'Pod', field: 'volumes', container: 'models' });
  });

  it('an image that is not a string, or not a valid reference, is an error naming the line', async () => {
    const r = await findImages([tree({ 'a.yaml': `kind: Pod\nspec:\n  containers:\n  - name: a\n    image: [x]\n  - name: b\n    image: UPPER/Case:1\n` }) + '/a.yaml'], { env: {} });
    expect(r.problems.map((p) => [p.code, p.line])).toEqual([['manifest-image-not-string', 5], ['invalid-reference', 7]]);
    expect(r.references).toEqual([expect.objectContaining({ reference: 'UPPER/Case:1', normalized: '' })]);
  });
});

describe('Helm output on standard input', () => {
  it('rendered output: `{{ }}` inside strings (alert rules) is fine; # Source comments are skipped', async () => {
    const rendered = `---\n# Source: chart/templates/rules.yaml\nkind: ConfigMap\ndata:\n  rule: "{{ $labels.instance }} is down"\n  plain: value {{ x }}\n  block: |\n    {{ range . }}\n---\n# Source: chart/templates/deploy.yaml\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n${podSpec('      ', 'nginx:1.27')}`;
    const r = await findImages(['-'], { stdin: stdin(rendered), env: {} });
    expect(refs(r)).toEqual(['nginx:1.27']);
    expect(r.problems).toEqual([]);
    expect(r.references[0].locations[0]).toMatchObject({ file: '-', document: 2, line: 18 });
  });

  it('unrendered templates: reported with the line of the first {{, whether YAML breaks or not', async () => {
    const template = `kind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n---\n{{- if .Values.enabled }}\nkind: Service\n{{- end }}\n---\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n`;
    const r = await findImages(['-'], { stdin: stdin(template), env: {} });
    expect(r.problems.map((p) => [p.code, p.line, p.document])).toEqual([
      ['template-unrendered', 9, 1],
      ['template-unrendered', 11, 2],
      ['template-unrendered', 17, 3],
    ]);
    expect(r.references).toEqual([expect.objectContaining({ reference: '{{ .Values.image.repository }}:{{ .Values.image.tag }}', normalized: '' })]);
  });

  it('a directory holding Chart.yaml is a chart: one problem, its templates are not read one by one', async () => {
    const root = tree({ 'chart/Chart.yaml': 'name: c\n', 'chart/templates/d.yaml': 'image: {{ .Values.x }}\n', 'plain.yaml': `kind: Pod\nspec:\n${podSpec('  ', 'a:1')}` });
    const r = await findImages([root], { env: {} });
    expect(refs(r)).toEqual(['a:1']);
    expect(r.problems.map((p) => [p.code, p.file])).toEqual([['helm-chart', join(root, 'chart/Chart.yaml')]]);
  });
});

describe('kustomize', () => {
  it.each(KUSTOMIZE_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const root = writeCase(join(dir, `k${n++}`), c);
    const r = await findImages([root], { env: {} });
    expect(refs(r)).toEqual(c.expect);
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });

  it('a kustomization.yaml given as a file is its directory; where a changed reference came from', async () => {
    const root = writeCase(join(dir, `k${n++}`), KUSTOMIZE_CASES[2]);
    const r = await findImages([join(root, 'kustomization.yaml')], { env: {} });
    expect(refs(r)).toEqual(KUSTOMIZE_CASES[2].expect);
    const app = r.references.find((x) => x.reference === 'registry.example.com/app:v2')!;
    expect(app.locations[0]).toMatchObject({ written: 'app:dev', kind: 'Deployment', name: 'app', kustomization: join(root, 'kustomization.yaml'), line: 12 });
  });

  it('refuses what kustomize refuses: files outside the root, cycles, missing and remote resources, numbers for tags, two kustomization files', async () => {
    const root = tree({
      'outside.yaml': `kind: Pod\nspec:\n${podSpec('  ', 'outside:1')}`,
      'k/kustomization.yaml': 'resources:\n- ../outside.yaml\n- loop\n- missing.yaml\n- https://github.com/org/repo//deploy?ref=v1\n- ok.yaml\nimages:\n- name: ok\n  newTag: 1.20\n',
      'k/ok.yaml': `kind: Pod\nspec:\n${podSpec('  ', 'ok:1')}`,
      'k/loop/kustomization.yaml': 'resources:\n- ..\n',
      'two/kustomization.yaml': 'resources: []\n',
      'two/kustomization.yml': 'resources: []\n',
    });
    const r = await findImages([join(root, 'k')], { env: {} });
    expect(refs(r)).toEqual(['ok:1']);
    expect(r.problems.map((p) => [p.code, p.line])).toEqual([
      ['kustomize-outside-root', 2],
      ['kustomize-cycle', undefined],
      ['kustomize-missing', 4],
      ['kustomize-remote', 5],
      ['kustomize-image-field', 9],
    ]);
    expect(r.problems[3].message).toMatch(/not fetched/);
    const two = await findImages([join(root, 'two')], { env: {} });
    expect(codes(two)).toEqual(['kustomize-ambiguous']);
  });

  it('fields it does not apply (patches, ...) are warnings naming the line', async () => {
    const root = tree({ 'kustomization.yaml': `resources:\n- a.yaml\npatches:\n- path: p.yaml\n`, 'a.yaml': `kind: Pod\nspec:\n${podSpec('  ', 'a:1')}` });
    const r = await findImages([root], { env: {} });
    expect(refs(r)).toEqual(['a:1']);
    expect(r.problems).toEqual([expect.objectContaining({ code: 'kustomize-not-applied', severity: 'warning', line: 4 })]);
  });

  it("kustomize's name matching and splitting", () => {
    expect(isImageMatched('nginx', 'nginx')).toBe(true);
    expect(isImageMatched('nginx:1.2@sha256:abc', 'nginx')).toBe(true);
    expect(isImageMatched('nginx-exporter:1', 'nginx')).toBe(false);
    expect(isImageMatched('docker.io/library/nginx:1', 'nginx')).toBe(false);
    expect(isImageMatched('x', '[')).toBe(false); // not a regular expression: matches nothing
    expect(splitImage('localhost:5000/app:1@sha256:abc')).toEqual(['localhost:5000/app', '1', 'sha256:abc']);
    expect(splitImage('localhost:5000/app')).toEqual(['localhost:5000/app', '', '']);
    expect(splitImage('app@sha256:abc')).toEqual(['app', '', 'sha256:abc']);
  });
});

describe('compose', () => {
  const compose = `x-base: &base\n  restart: always\n  image: \${BASE_IMAGE:-base}:\${BASE_TAG-1}\nservices:\n  web:\n    image: \${REGISTRY}/web:\${TAG:-latest}\n  worker:\n    <<: *base\n  built:\n    build: .\n  literal:\n    image: "price$$:1"\n  plain:\n    image: $REGISTRY/plain\n  missing:\n    image: \${NOPE}/x:\${ALSO_NOPE}\n`;

  it('variables from the environment over .env beside the file; defaults; merge keys; build-only services skipped; unset ones reported, listed as written', async () => {
    const root = tree({ 'compose.yaml': compose, '.env': '# comment\nexport REGISTRY=ghcr.io/org\nTAG="v1 # not a comment"\nBASE_TAG=\nQUOTED=\'${REGISTRY}\'\n' });
    const r = await findImages([join(root, 'compose.yaml')], { env: { TAG: '2.0' } });
    expect(refs(r)).toEqual(['${NOPE}/x:${ALSO_NOPE}', 'base:', 'ghcr.io/org/plain', 'ghcr.io/org/web:2.0', 'price$:1']);
    expect(r.problems.map((p) => [p.code, p.severity, p.line])).toEqual([
      ['compose-variable-unset', 'warning', 16],
      ['compose-variable-unset', 'warning', 16],
      ['invalid-reference', 'error', 3], // base: (BASE_TAG is set, empty)
      ['invalid-reference', 'error', 12], // price$:1 ($$ is a $, which no reference holds)
    ]);
    expect(r.problems[0].message).toBe('variable NOPE is not set (neither in the environment nor in .env): 1 image reference listed as written');
    const web = r.references.find((x) => x.reference === 'ghcr.io/org/web:2.0')!;
    expect(web).toEqual({ reference: 'ghcr.io/org/web:2.0', normalized: 'ghcr.io/org/web:2.0', locations: [{ file: join(root, 'compose.yaml'), document: 1, line: 6, kind: 'service', name: 'web', field: 'image', written: '${REGISTRY}/web:${TAG:-latest}' }] });
    expect(r.references.find((x) => x.reference.startsWith('$'))!.normalized).toBe('');
  });

  it('required variables: ${VAR:?message} unset is an error naming the service', async () => {
    const r = await findImages(['-'], { stdin: stdin('services:\n  a:\n    image: ${IMG:?set IMG first}\n'), env: {} });
    expect(r.problems).toEqual([expect.objectContaining({ code: 'compose-interpolation', line: 3, message: 'the image of service a: required variable IMG is missing a value: set IMG first' })]);
  });

  it('extends within the file is followed; from another file, and include:, are warnings', async () => {
    const text = 'include:\n- other.yaml\nservices:\n  base:\n    image: base:1\n  child:\n    extends: base\n  grandchild:\n    extends: {service: child}\n  elsewhere:\n    extends: {file: common.yaml, service: x}\n  loop:\n    extends: loop\n';
    const r = await findImages(['-'], { stdin: stdin(text), env: {} });
    expect(r.references).toEqual([expect.objectContaining({ reference: 'base:1' })]);
    expect(r.references[0].locations.map((l) => [l.name, l.line])).toEqual([['base', 5], ['child', 5], ['grandchild', 5]]);
    expect(r.problems.map((p) => [p.code, p.severity, p.line])).toEqual([['compose-not-followed', 'warning', 2], ['compose-not-followed', 'warning', 11]]);
  });

  it('interpolation as compose does it', () => {
    const v = (vars: Record<string, string>) => (name: string) => vars[name];
    const env = v({ A: 'a', E: '' });
    expect(interpolate('$A ${A} $$A $${A}', env)).toEqual({ value: 'a a $A ${A}', unset: [] });
    expect(interpolate('${E:-d} ${E-d} ${U-d} ${U:-${A}x}', env)).toEqual({ value: 'd  d ax', unset: [] });
    expect(interpolate('${A:+r} ${E:+r} ${E+r} ${U+r}', env)).toEqual({ value: 'r  r ', unset: [] });
    expect(interpolate('${U}:${U}', env)).toEqual({ value: ':', unset: ['U'] });
    expect(interpolate('${E:?no}', env)).toEqual({ error: 'required variable E is missing a value: no' });
    expect(interpolate('${E?no}', env)).toEqual({ value: '', unset: [] });
    expect(interpolate('x$', env)).toHaveProperty('error');
    expect(interpolate('${A', env)).toHaveProperty('error');
  });

  it('.env files as compose reads them', () => {
    const values = parseDotEnv('A=1\nexport B = two \nC="x\\ny ${A}" # c\nD=\'lit ${A}\'\nE=v # comment\nF="multi\nline"\n#G=no\nH: colon\nI=${A}${B}\nJ="\\$A"\n', () => undefined);
    expect(Object.fromEntries(values)).toEqual({ A: '1', B: 'two', C: 'x\ny 1', D: 'lit ${A}', E: 'v', F: 'multi\nline', H: 'colon', I: '1two', J: '$A' });
  });
});

describe('paths', () => {
  it('a directory: *.yaml and *.yml in name order, subfolders (kustomizations built), hidden folders and symlinked folders skipped', async () => {
    const root = tree({
      'b.yml': `kind: Pod\nspec:\n${podSpec('  ', 'b:1')}`,
      'a.yaml': `kind: Pod\nspec:\n${podSpec('  ', 'a:1')}`,
      'notes.txt': 'image: no:1\n',
      '.git/x.yaml': `kind: Pod\nspec:\n${podSpec('  ', 'hidden:1')}`,
      'sub/deeper/c.YAML': `kind: Pod\nspec:\n${podSpec('  ', 'c:1')}`,
      'k/kustomization.yaml': 'resources:\n- d.yaml\nimages:\n- name: d\n  newTag: "2"\n',
      'k/d.yaml': `kind: Pod\nspec:\n${podSpec('  ', 'd:1')}`,
      'k/unlisted.yaml': `kind: Pod\nspec:\n${podSpec('  ', 'unlisted:1')}`,
      'compose.yml': 'services:\n  s:\n    image: s:1\n',
    });
    symlinkSync(root, join(root, 'loop'));
    const r = await findImages([root], { env: {} });
    expect(refs(r)).toEqual(['a:1', 'b:1', 'c:1', 'd:2', 's:1']);
    expect(r.problems).toEqual([]);
  });

  it('a missing path is a usage error (exit 2) naming it', async () => {
    const e = await findImages([join(dir, 'nope')], { env: {} }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ImgpackError);
    expect((e as ImgpackError).exitCode).toBe(2);
    expect((e as ImgpackError).line).toBe(`no such file or directory (${join(dir, 'nope')})`);
  });

  it('standard input that is a terminal is refused', async () => {
    const tty = Object.assign(stdin(''), { isTTY: true });
    await expect(findImages(['-'], { stdin: tty })).rejects.toMatchObject({ code: 'stdin-terminal', exitCode: 2 });
  });

  it('several paths at once: one list', async () => {
    const a = tree({ 'a.yaml': `kind: Pod\nspec:\n${podSpec('  ', 'x:1')}` });
    const r = await findImages([join(a, 'a.yaml'), '-'], { stdin: stdin(`kind: Pod\nspec:\n${podSpec('  ', 'x:1')}`), env: {} });
    expect(r.references).toHaveLength(1);
    expect(r.references[0].locations.map((l) => l.file)).toEqual([join(a, 'a.yaml'), '-']);
  });
});
