/**
 * Image sets, the pure parts: set files (plain lists and YAML, every error with its file and
 * line), tag filters (semver, regex, latest, lists), the keys that tie lock entries to set
 * entries, lock files that crossed an air gap (checked, never trusted), and the lock comparison.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImgpackError } from '../../src/errors.js';
import { entryKey, parseSetFile, readSetFiles, type SetEntry } from '../../src/ops/set-file.js';
import { byVersionDescending, selectTags } from '../../src/ops/tag-filter.js';
import { compareWithLock, readLock, writeLock, type SetLock } from '../../src/ops/lock.js';
import { readFailureReport, writeFailureReport } from '../../src/ops/image-sets.js';
import { openSource } from '../../src/formats/source.js';
import { rootsOf } from '../../src/ops/plan.js';
import { buildImage, ociEntries, writeEntriesToDir } from '../../src/testing/build.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir();

function errorOf(f: () => unknown): ImgpackError {
  try {
    f();
  } catch (e) {
    if (e instanceof ImgpackError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('set files', () => {
  it('reads a plain list: one reference a line, # comments, normalised as docker does', () => {
    const entries = parseSetFile('# images for the cluster\nnginx:1.25\n\n  quay.io/prometheus/node-exporter:v1.8.2   # exporter\nlocalhost:5000/app@sha256:' + 'a'.repeat(64) + '\n', 'list.txt');
    expect(entries.map((e) => [e.kind, e.kind === 'image' && e.reference, e.origin.line])).toEqual([
      ['image', 'docker.io/library/nginx:1.25', 2],
      ['image', 'quay.io/prometheus/node-exporter:v1.8.2', 4],
      ['image', `localhost:5000/app@sha256:${'a'.repeat(64)}`, 5],
    ]);
  });

  it('names the line of a bad reference in a plain list', () => {
    const e = errorOf(() => parseSetFile('nginx:1.25\nNot A Reference\n', 'list.txt'));
    expect(e.line).toBe('a plain set file has one reference a line (list.txt:2)');
    expect(errorOf(() => parseSetFile('nginx:1.25\nnginx@sha256:abc\n', 'list.txt')).line).toMatch(/^invalid reference: .* \(list.txt:2: nginx@sha256:abc\)$/);
  });

  it('reads the YAML set of the issue: filters, platforms, defaults, fromManifests relative to the file', () => {
    const text = [
      'images:',
      '  - ref: docker.io/library/nginx        # tags chosen by filters',
      '    tags: {semver: ">=1.25 <1.27", latest: 3}',
      '    platforms: [linux/amd64, linux/arm64]',
      '  - ref: quay.io/prometheus/node-exporter:v1.8.2',
      '  - fromManifests: ./k8s/',
      "  - ref: registry.local:5000/app",
      "    tags: {regex: '^1\\.2[5-6]\\.[0-9]+$'}",
      '  - busybox',
      'platforms: [linux/amd64]                # default for entries that name none',
    ].join('\n');
    const entries = parseSetFile(text, '/sets/cluster.yaml');
    expect(entries).toEqual([
      { kind: 'tags', repository: 'docker.io/library/nginx', filter: { semver: '>=1.25 <1.27', latest: 3 }, platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }], origin: { file: '/sets/cluster.yaml', line: 2 } },
      { kind: 'image', reference: 'quay.io/prometheus/node-exporter:v1.8.2', platforms: [{ os: 'linux', architecture: 'amd64' }], origin: { file: '/sets/cluster.yaml', line: 5 } },
      { kind: 'manifests', path: '/sets/k8s', written: './k8s/', platforms: [{ os: 'linux', architecture: 'amd64' }], origin: { file: '/sets/cluster.yaml', line: 6 } },
      { kind: 'tags', repository: 'registry.local:5000/app', filter: { regex: '^1\\.2[5-6]\\.[0-9]+$' }, platforms: [{ os: 'linux', architecture: 'amd64' }], origin: { file: '/sets/cluster.yaml', line: 7 } },
      { kind: 'image', reference: 'docker.io/library/busybox:latest', platforms: [{ os: 'linux', architecture: 'amd64' }], origin: { file: '/sets/cluster.yaml', line: 9 } },
    ]);
  });

  it('refuses what it does not understand, with the file and line: typos, bad filters, bad platforms', () => {
    const cases: [string, string][] = [
      ['images:\n  - ref: nginx\n    platform: [linux/amd64]\n', 'unknown key "platform" in an entry (ref, tags, platforms, fromManifests) (s.yaml:2)'],
      ['images:\n  - ref: nginx\n    tags: {semver: "not a range"}\n', 'semver: "not a range" is not a version range (s.yaml:2)'],
      ['images:\n  - ref: nginx\n    tags: {regex: "(unclosed"}\n', 'regex: Invalid regular expression: /(unclosed/: Unterminated group (s.yaml:2)'],
      ['images:\n  - ref: nginx\n    tags: {latest: 0}\n', 'latest: is a whole number of tags, 1 or more (s.yaml:2)'],
      ['images:\n  - ref: nginx\n    tags: {newest: 2}\n', 'unknown tag filter "newest" (semver, regex, latest) (s.yaml:2)'],
      ['images:\n  - ref: nginx:1.25\n    tags: {latest: 2}\n', 'with tags:, ref: names a repository, without a tag or digest (s.yaml:2: nginx:1.25)'],
      ['images:\n  - ref: nginx\n    platforms: [amd64]\n', 'a platform is os/arch[/variant], e.g. linux/arm64, not "amd64" (s.yaml:2)'],
      ['images:\n  - ref: nginx\n    fromManifests: ./k8s\n', 'an entry has either ref: or fromManifests:, not both (s.yaml:2)'],
      ['images: nginx\n', 'a YAML set needs an images: list (s.yaml:1)'],
      ['images:\n  - nginx\nimage: [x]\n', 'unknown key "image" (a set has images: and platforms:) (s.yaml:3)'],
      ['images:\n  - ref: [nginx\n', 'not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] (s.yaml:3)'],
    ];
    for (const [text, line] of cases) expect(errorOf(() => parseSetFile(text, 's.yaml')).line, text).toBe(line);
  });

  it('survives hostile YAML: an alias bomb, binary garbage, deep nesting: one-line errors', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`), 'images: [*i]'].join('\n');
    expect(errorOf(() => parseSetFile(bomb, 'bomb.yaml')).line).toBe('cannot read the set file: Excessive alias count indicates a resource exhaustion attack (bomb.yaml)');
    expect(errorOf(() => parseSetFile('\0\x01\x02binary', 'bin.yaml')).line).toBe('not a set file: it holds binary data (bin.yaml)');
    const deep = `images:\n  - ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`;
    expect(errorOf(() => parseSetFile(deep, 'deep.yaml')).line).toBe('not valid YAML: it nests too deep (deep.yaml:2)');
  });

  it('reads several files, keeping their sha256 for the lock', () => {
    const a = join(dir, 'a.txt');
    const b = join(dir, 'b.yaml');
    writeFileSync(a, 'nginx:1.25\n');
    writeFileSync(b, 'images:\n  - redis:7\n');
    const set = readSetFiles([a, b]);
    expect(set.entries.map((e) => e.kind === 'image' && e.reference)).toEqual(['docker.io/library/nginx:1.25', 'docker.io/library/redis:7']);
    expect(set.files.map((f) => f.path)).toEqual([a, b]);
    expect(set.files[0].sha256).toBe(`sha256:${createHash('sha256').update('nginx:1.25\n').digest('hex')}`);
    expect(errorOf(() => readSetFiles([join(dir, 'absent.yaml')])).exitCode).toBe(2);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, Buffer.alloc(17 * 1024 * 1024, 0x20));
    expect(errorOf(() => readSetFiles([big])).line).toBe(`the set file is larger than 16777216 bytes: refused (${big})`);
  });

  it('keys entries by meaning, not by place: the lock survives reordering, not a change of filter or platforms', () => {
    const at = (line: number): Extract<SetEntry, { kind: 'tags' }> => ({ kind: 'tags', repository: 'docker.io/library/nginx', filter: { semver: '>=1.25', latest: 3 }, origin: { file: 'x', line } });
    const amd = [{ os: 'linux', architecture: 'amd64' }];
    expect(entryKey(at(1), amd)).toBe(entryKey(at(9), amd));
    expect(entryKey(at(1), amd)).toBe('docker.io/library/nginx {semver >=1.25; latest 3} [linux/amd64]');
    expect(entryKey({ ...at(1), filter: { semver: '>=1.25', latest: 2 } }, amd)).not.toBe(entryKey(at(1), amd));
    expect(entryKey(at(1), 'all')).toBe('docker.io/library/nginx {semver >=1.25; latest 3} [all platforms]');
  });
});

describe('tag filters', () => {
  const tags = ['latest', 'stable', 'alpine', '1.24.0', '1.25', '1.25-alpine', '1.25.0', '1.25.3', '1.25.3-alpine', 'v1.25.9', '1.26.0', '1.26.1-rc1', '1.26.10', '1.26.2', '1.27.0', '2.0.0'];

  it('semver: versions (a leading v allowed) inside the range; pre-releases and two-part tags are not versions in range', () => {
    expect(selectTags(tags, { semver: '>=1.25 <1.27' })).toEqual(['1.26.10', '1.26.2', '1.26.0', 'v1.25.9', '1.25.3', '1.25.0']);
  });

  it('latest: the N highest versions (1.26.10 above 1.26.2), with or without another filter', () => {
    expect(selectTags(tags, { semver: '>=1.25 <1.27', latest: 3 })).toEqual(['1.26.10', '1.26.2', '1.26.0']);
    expect(selectTags(tags, { latest: 2 })).toEqual(['2.0.0', '1.27.0']);
  });

  it('regex: unanchored, as skopeo sync; anchored when written so', () => {
    expect(selectTags(tags, { regex: '^1\\.2[5-6]\\.[0-9]+$' })).toEqual(['1.26.10', '1.26.2', '1.26.0', '1.25.3', '1.25.0']);
    expect(selectTags(tags, { regex: 'alpine' })).toEqual(['1.25.3-alpine', 'alpine', '1.25-alpine']);
    // A pre-release (1.25.3-alpine) is in a range only when the range names the same version's.
    expect(selectTags(tags, { regex: 'alpine', semver: '>=1.25.0-0' })).toEqual([]);
    expect(selectTags(tags, { regex: 'alpine', semver: '>=1.25.3-0 <1.25.4' })).toEqual(['1.25.3-alpine']);
  });

  it('a list names exactly those tags, whatever the registry lists', () => {
    expect(selectTags(['1.0.0'], { list: ['1.25.3', 'nightly'] })).toEqual(['1.25.3', 'nightly']);
  });

  it('orders versions above other tags, those in natural order (1.9 < 1.10)', () => {
    expect(['1.9', 'latest', '1.10', '0.1.0', 'v2.0.0'].sort(byVersionDescending)).toEqual(['v2.0.0', '0.1.0', 'latest', '1.10', '1.9']);
  });
});

describe('locks', () => {
  const lock: SetLock = {
    kind: 'imgpack-lock', version: 1, sets: [{ path: 'set.yaml', sha256: `sha256:${'0'.repeat(64)}` }],
    images: [{ reference: 'docker.io/library/nginx:1.25.3', digest: `sha256:${'1'.repeat(64)}`, mediaType: 'application/vnd.oci.image.index.v1+json', platforms: [{ platform: 'linux/amd64', digest: `sha256:${'2'.repeat(64)}`, size: 10 }], size: 20, entries: ['docker.io/library/nginx [linux/amd64]'] }],
  };

  it('writes deterministically (no time in it) and reads back with its sha256', () => {
    const p = join(dir, 'l.lock');
    const sha = writeLock(p, lock);
    expect(writeLock(p, lock)).toBe(sha);
    expect(readLock(p)).toEqual({ lock, sha256: sha });
  });

  it('refuses a lock that is not one, naming what is wrong', () => {
    const p = join(dir, 'bad.lock');
    const bad = (mutate: (l: any) => void) => {
      const l = structuredClone(lock) as any;
      mutate(l);
      writeFileSync(p, JSON.stringify(l));
      return errorOf(() => readLock(p)).line;
    };
    expect(bad((l) => { l.kind = 'other'; })).toBe(`not an imgpack lock: kind is not "imgpack-lock" (${p})`);
    expect(bad((l) => { l.images[0].digest = 'sha256:../../etc'; })).toMatch(/^not an imgpack lock: images\[0\]\.digest: /);
    expect(bad((l) => { l.images[0].reference = 'UPPER'; })).toMatch(/^not an imgpack lock: images\[0\]\.reference: /);
    expect(bad((l) => { l.images[0].platforms = []; })).toBe(`not an imgpack lock: images[0].platforms is not a non-empty list (${p})`);
    writeFileSync(p, '{not json');
    expect(errorOf(() => readLock(p)).line).toBe(`the lock is not JSON (${p})`);
  });

  it('compares a bundle with a lock: matched, missing, different, extra', async () => {
    const a = await buildImage({ names: ['docker.io/library/a:1'], layers: [{ files: { a: '1' } }] });
    const b = await buildImage({ names: ['docker.io/library/b:1'], layers: [{ files: { b: '1' } }] });
    const layout = join(dir, 'bundle');
    await writeEntriesToDir(ociEntries([a, b], { refNameStyle: 'full' }), layout);
    const source = await openSource(layout);
    const roots = rootsOf(source);
    const image = (reference: string, digest: string) => ({ reference, digest, mediaType: 'x', platforms: [{ platform: 'linux/amd64', digest, size: 1 }], size: 1, entries: [] });
    const exact: SetLock = { ...lock, images: [image('docker.io/library/a:1', a.manifest.digest), image('docker.io/library/b:1', b.manifest.digest)] };
    expect(compareWithLock(roots, exact)).toEqual({ ok: true, matched: ['docker.io/library/a:1', 'docker.io/library/b:1'], missing: [], different: [], extra: [] });
    const off: SetLock = { ...lock, images: [image('docker.io/library/a:1', b.manifest.digest), image('docker.io/library/c:1', a.manifest.digest)] };
    const c = compareWithLock(roots, off);
    expect(c.ok).toBe(false);
    expect(c.missing).toEqual([{ reference: 'docker.io/library/c:1', digest: a.manifest.digest }]);
    expect(c.different.map((d) => [d.reference, d.found])).toEqual([['docker.io/library/a:1', [a.manifest.digest]]]);
    expect(c.extra).toEqual([{ name: 'docker.io/library/b:1', digest: b.manifest.digest }]);
    await source.close();
  });
});

describe('keep-going reports', () => {
  it('round-trips into the set of what failed: entries that did not resolve, images pinned by the lock', () => {
    const p = join(dir, 'failed.json');
    const digest = `sha256:${'3'.repeat(64)}`;
    writeFailureReport(p, [
      { reference: 'docker.io/library/nginx', registry: 'docker.io', code: 'registry-unreachable', reason: 'x', exitCode: 2, retry: { ref: 'docker.io/library/nginx', tags: { semver: '>=1' }, platforms: ['linux/arm64'] } },
      { reference: 'docker.io/library/redis:7', registry: 'docker.io', code: 'digest-mismatch', reason: 'y', exitCode: 1, retry: { ref: `docker.io/library/redis:7@${digest}`, platforms: 'all', pinned: true } },
    ], join(dir, 'locks', 'set.lock'));
    expect(JSON.parse(readFileSync(p, 'utf8')).lock).toBe('locks/set.lock'); // relative to the report: the two move together
    const { set, lock } = readFailureReport(p);
    expect(lock).toBe(join(dir, 'locks', 'set.lock'));
    expect(set.entries.map(({ origin, ...e }) => e)).toEqual([
      { kind: 'tags', repository: 'docker.io/library/nginx', filter: { semver: '>=1' }, platforms: [{ os: 'linux', architecture: 'arm64' }] },
      { kind: 'image', reference: `docker.io/library/redis:7@${digest}`, platforms: 'all', outsideLock: true },
    ]);
    writeFileSync(p, JSON.stringify({ kind: 'imgpack-failures', version: 1, failures: [{ retry: { ref: 'BAD REF' } }] }));
    expect(errorOf(() => readFailureReport(p)).code).toBe('bad-report');
  });
});
