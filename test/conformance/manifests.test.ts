/**
 * find-images over the real manifests of ../shared/manifests: for every item of manifests.json,
 * the references found are exactly the expected ones (computed independently, with PyYAML and,
 * for the kustomization, checked against kubectl kustomize), through the library and the CLI.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findImages } from '../../src/ops/find-images.js';
import { runCli } from '../helpers/cli.js';
import { SHARED, requireSharedInCi } from '../helpers/shared.js';

requireSharedInCi();
const MANIFESTS = resolve(SHARED, 'manifests');
const available = existsSync(resolve(MANIFESTS, 'manifests.json'));
const items: { path: string; kind: string; images: string[] }[] = available ? JSON.parse(readFileSync(resolve(MANIFESTS, 'manifests.json'), 'utf8')) : [];

describe.skipIf(!available)('find-images over ../shared/manifests', () => {
  it('has the items it expects', () => {
    expect(items.length).toBeGreaterThanOrEqual(4);
    expect(new Set(items.map((i) => i.kind))).toEqual(new Set(['kubernetes', 'compose', 'kustomize']));
  });

  for (const item of items) {
    it(`${item.path} (${item.kind}): exactly the expected references`, async () => {
      // No environment: the compose file's variables stay unset, as in the expectation.
      const result = await findImages([resolve(MANIFESTS, item.path)], { env: {} });
      expect(result.references.map((r) => r.reference)).toEqual(item.images);
      expect(result.problems.filter((p) => p.severity !== 'warning')).toEqual([]);
      for (const r of result.references) {
        expect(r.locations.length).toBeGreaterThan(0);
        for (const l of r.locations) expect(l.line).toBeGreaterThan(0);
      }
    });

    it(`${item.path}: the CLI prints the same, one a line, and exits 0`, async () => {
      const r = await runCli('find-images', resolve(MANIFESTS, item.path));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(item.images.map((i) => `${i}\n`).join(''));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('the whole folder at once: the union of every item (the kustomization built as one, the compose file read as compose)', async () => {
    const result = await findImages([MANIFESTS], { env: {} });
    const union = [...new Set(items.flatMap((i) => i.images))].sort();
    expect(result.references.map((r) => r.reference)).toEqual(union);
  });

  it('compose with the values of the project\'s .env (given as the environment): resolved references, normalised', async () => {
    const env = {
      IMAGE_NAME: 'ghcr.io/open-telemetry/demo', DEMO_VERSION: 'latest', FLAGD_IMAGE: 'ghcr.io/open-feature/flagd:v0.16.0',
      POSTGRES_IMAGE: 'postgres:18.4', VALKEY_IMAGE: 'ghcr.io/valkey-io/valkey:9.0.4-alpine3.23',
      COLLECTOR_CONTRIB_IMAGE: 'ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-contrib:0.159.0',
    };
    const result = await findImages([resolve(MANIFESTS, 'opentelemetry-demo/compose.yaml')], { env });
    const item = items.find((i) => i.path === 'opentelemetry-demo/compose.yaml')!;
    const expected = item.images.map((i) => i.replace(/\$\{(\w+)\}/g, (_m, n: string) => env[n as keyof typeof env])).sort();
    expect(result.references.map((r) => r.reference)).toEqual(expected);
    expect(result.problems).toEqual([]);
    const postgres = result.references.find((r) => r.reference === 'postgres:18.4')!;
    expect(postgres.normalized).toBe('docker.io/library/postgres:18.4');
    expect(postgres.locations[0]).toMatchObject({ kind: 'service', name: 'astronomy-db', field: 'image', line: 771, written: '${POSTGRES_IMAGE}' });
  });

  it('the kustomization: where each reference was written and which kustomization changed it', async () => {
    const result = await findImages([resolve(MANIFESTS, 'argo-cd-redis')], { env: {} });
    const redis = result.references.find((r) => r.reference.includes('redis'))!;
    expect(redis.locations).toEqual([{
      file: resolve(MANIFESTS, 'argo-cd-redis/argocd-redis-deployment.yaml'), document: 1, line: 44,
      kind: 'Deployment', name: 'argocd-redis', container: 'redis', field: 'containers',
      written: 'redis:8.10.1-alpine', kustomization: resolve(MANIFESTS, 'argo-cd-redis/kustomization.yaml'),
    }]);
  });
});
