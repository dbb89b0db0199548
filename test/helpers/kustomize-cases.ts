/**
 * Kustomization trees for find-images, each with the references `kubectl kustomize` builds from
 * it (the unit test checks find-images against `expect`; the interop test checks `expect` itself
 * against kubectl kustomize when kubectl is installed).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface KustomizeCase {
  name: string;
  /** Relative path -> content. */
  files: Record<string, string>;
  /** The directory to build, relative. */
  root: string;
  expect: string[];
}

const deployment = (name: string, images: string[], init: string[] = []) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
${init.length ? `      initContainers:\n${init.map((img, i) => `      - name: init${i}\n        image: ${img}\n`).join('')}` : ''}      containers:
${images.map((img, i) => `      - name: c${i}\n        image: ${img}\n`).join('')}`;

const cronjob = (name: string, image: string) => `apiVersion: batch/v1
kind: CronJob
metadata:
  name: ${name}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: c
            image: ${image}
`;

const ephemeralPod = (name: string, image: string, debug: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  containers:
  - name: c
    image: ${image}
  ephemeralContainers:
  - name: debug
    image: ${debug}
`;

export const KUSTOMIZE_CASES: KustomizeCase[] = [
  {
    name: 'newName, newTag, digest, both; names match whole (nginx is not nginx-exporter); tagSuffix applied twice, as kustomize does',
    root: '.',
    files: {
      'kustomization.yaml': `resources:
- app.yaml
images:
- name: nginx
  newName: registry.example.com/mirror/nginx
  newTag: "1.27"
- name: redis
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
- name: quay.io/prometheus/node-exporter
  newTag: v1.8.2
  digest: sha256:1111111111111111111111111111111111111111111111111111111111111111
- name: busybox
  tagSuffix: -musl
`,
      'app.yaml': deployment('app', ['nginx:1.25', 'nginx-exporter:0.11', 'redis:7@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'quay.io/prometheus/node-exporter:v1.7.0', 'busybox:1.36', 'docker.io/library/nginx:1.25']),
    },
    expect: [
      // kustomize runs its legacy filter and its field-spec filter, both reaching a template's containers.
      'busybox:1.36-musl-musl',
      'docker.io/library/nginx:1.25',
      'nginx-exporter:0.11',
      'quay.io/prometheus/node-exporter:v1.8.2@sha256:1111111111111111111111111111111111111111111111111111111111111111',
      'redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      'registry.example.com/mirror/nginx:1.27',
    ],
  },
  {
    name: 'a registry with a port; CronJob and init containers; ephemeral containers are left alone; a CronJob gets tagSuffix once',
    root: '.',
    files: {
      'kustomization.yaml': `resources:
- jobs.yaml
- pod.yaml
images:
- name: localhost:5000/team/app
  newTag: "1.20"
- name: alpine
  newName: mirror.local/alpine
- name: cron
  tagSuffix: -x
`,
      'jobs.yaml': `${cronjob('nightly', 'localhost:5000/team/app:1.0')}---
${cronjob('other', 'cron:1')}---
${deployment('web', ['localhost:5000/team/app'], ['alpine:3.19'])}`,
      'pod.yaml': ephemeralPod('debug', 'alpine:3.20', 'alpine:3.18'),
    },
    expect: ['alpine:3.18', 'cron:1-x', 'localhost:5000/team/app:1.20', 'mirror.local/alpine:3.19', 'mirror.local/alpine:3.20'],
  },
  {
    name: 'an overlay over a base: the base\'s images: first, then the overlay\'s on the result; entries chain in order',
    root: 'overlays/prod',
    files: {
      'base/kustomization.yaml': `resources:
- app.yaml
images:
- name: app
  newName: registry.example.com/app
  newTag: base
`,
      'base/app.yaml': deployment('app', ['app:dev', 'sidecar:1']),
      'overlays/prod/kustomization.yaml': `resources:
- ../../base
- extra.yaml
images:
- name: registry.example.com/app
  newTag: v2
- name: sidecar
  newName: sidecar2
- name: sidecar2
  newTag: "9"
`,
      'overlays/prod/extra.yaml': deployment('extra', ['app:dev']),
    },
    expect: ['app:dev', 'registry.example.com/app:v2', 'sidecar2:9'],
  },
  {
    name: 'components: their resources join, their images: apply to everything gathered so far',
    root: 'app',
    files: {
      'app/kustomization.yaml': `resources:
- deploy.yaml
components:
- ../monitoring
images:
- name: exporter
  newTag: "2.0"
`,
      'app/deploy.yaml': deployment('app', ['app:1']),
      'monitoring/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
- exporter.yaml
images:
- name: app
  newTag: "1-monitored"
`,
      'monitoring/exporter.yaml': deployment('exporter', ['exporter:1.0']),
    },
    expect: ['app:1-monitored', 'exporter:2.0'],
  },
  {
    name: 'a kustomization.yml and a nested directory resource; a name used as a regular expression, as kustomize does',
    root: 'top',
    files: {
      'top/kustomization.yml': `resources:
- sub
images:
- name: ghcr.io/org/.*
  newTag: pinned
`,
      'top/sub/kustomization.yaml': `resources:
- a.yaml
`,
      'top/sub/a.yaml': deployment('a', ['ghcr.io/org/one:1', 'ghcr.io/org/two', 'ghcr.io/other/three:3']),
    },
    expect: ['ghcr.io/org/one:pinned', 'ghcr.io/org/two:pinned', 'ghcr.io/other/three:3'],
  },
  {
    name: 'the old bases: field; a tag and digest both replaced by newTag; a digest-only image matched by name',
    root: 'env',
    files: {
      'env/kustomization.yaml': `bases:
- ../base
images:
- name: nginx
  newTag: "2"
- name: docker.io/library/redis
  newName: mirror.local/redis
`,
      'base/kustomization.yaml': `resources:
- app.yaml
`,
      'base/app.yaml': deployment('app', [
        'nginx:1@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
        'docker.io/library/redis@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
        'redis:7',
      ]),
    },
    expect: ['mirror.local/redis@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'nginx:2', 'redis:7'],
  },
];

/** Writes a case under `dir`; returns the directory to build. */
export function writeCase(dir: string, c: KustomizeCase): string {
  for (const [rel, text] of Object.entries(c.files)) {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return join(dir, c.root);
}
