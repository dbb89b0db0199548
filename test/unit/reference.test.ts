import { describe, expect, it } from 'vitest';
import { familiarName, normalizeName, parseReference, refNameAsReference } from '../../src/model/reference.js';

describe('reference normalisation (as docker does)', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['user/repo', 'docker.io/user/repo:latest'],
    ['library/nginx:1.25', 'docker.io/library/nginx:1.25'],
    ['index.docker.io/library/nginx', 'docker.io/library/nginx:latest'],
    ['quay.io/coreos/flannel:v0.10.0-amd64', 'quay.io/coreos/flannel:v0.10.0-amd64'],
    ['registry.local:5000/team/app:2', 'registry.local:5000/team/app:2'],
    ['localhost/imgpack/app:1', 'localhost/imgpack/app:1'],
    ['localhost:5000/whiteout', 'localhost:5000/whiteout:latest'],
    ['[::1]:5000/a/b:c', '[::1]:5000/a/b:c'],
    ['a/b/c/d:e', 'docker.io/a/b/c/d:e'],
  ])('%s -> %s', (input, full) => {
    expect(normalizeName(input)).toBe(full);
  });

  it('keeps a digest and adds no tag to it', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    expect(normalizeName(`busybox@${d}`)).toBe(`docker.io/library/busybox@${d}`);
  });

  it.each([
    ['user/Upper', 'must be lowercase'],
    ['Busybox', 'must be lowercase'],
    ['busybox:', 'invalid tag'],
    ['busybox:-x', 'invalid tag'],
    ['a//b', 'invalid repository'],
    ['busybox@sha256:abc', 'malformed digest'],
    ['busybox@md5:' + 'a'.repeat(32), 'unsupported digest algorithm'],
    ['', 'empty'],
    ['-a', 'invalid repository'],
  ])('rejects %j (%s)', (input, reason) => {
    expect(() => parseReference(input)).toThrow(reason);
  });

  it('shows docker\'s familiar form', () => {
    expect(familiarName('docker.io/library/busybox:latest')).toBe('busybox:latest');
    expect(familiarName('docker.io/user/repo:1')).toBe('user/repo:1');
    expect(familiarName('quay.io/x/y:2')).toBe('quay.io/x/y:2');
    expect(familiarName('docker.io/library/a/b:1')).toBe('library/a/b:1');
  });

  it('tells a whole-reference ref.name from a bare tag', () => {
    expect(refNameAsReference('docker.io/imgpack/multi:list')).toBe('docker.io/imgpack/multi:list');
    expect(refNameAsReference('sample:latest')).toBe('docker.io/library/sample:latest');
    expect(refNameAsReference('latest')).toBeUndefined();
    expect(refNameAsReference('1')).toBeUndefined();
    expect(refNameAsReference('UPPERCASE-IS-INVALID')).toBeUndefined();
  });
});
