import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** ../shared beside the project (CI has it; a fresh clone may not). */
export const SHARED = resolve(new URL('../..', import.meta.url).pathname, '../shared');

export interface ExpectedImage {
  id: string;
  repoTags: string[];
  diffIds: string[];
  platform: string;
}

export interface SharedItem {
  path: string;
  valid: boolean | 'legacy';
  expect?: ExpectedImage[];
  notes?: string;
}

export function sharedAvailable(): boolean {
  return existsSync(resolve(SHARED, 'corpus/corpus.json'));
}

/** In CI a missing ../shared is a failure, never a silent skip. */
export function requireSharedInCi(): void {
  if (!sharedAvailable() && process.env.CI === 'true') {
    throw new Error(`../shared is missing (looked in ${SHARED}); the conformance and interop suites need it in CI`);
  }
}

export function loadItems(): { label: string; file: string; item: SharedItem }[] {
  if (!sharedAvailable()) return [];
  const corpus = JSON.parse(readFileSync(resolve(SHARED, 'corpus/corpus.json'), 'utf8')) as SharedItem[];
  const fixtures = JSON.parse(readFileSync(resolve(SHARED, 'fixtures/realtools/fixtures.json'), 'utf8')) as SharedItem[];
  return [
    ...corpus.map((item) => ({ label: `corpus/${item.path}`, file: resolve(SHARED, 'corpus', item.path), item })),
    ...fixtures.map((item) => ({ label: `fixtures/${item.path}`, file: resolve(SHARED, 'fixtures/realtools', item.path), item })),
  ];
}
