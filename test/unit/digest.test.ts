import { describe, expect, it } from 'vitest';
import { blobPath, chainIds, digestProblem, parseDigest, sha256Of } from '../../src/model/digest.js';

describe('digests', () => {
  const h64 = 'a'.repeat(64);
  it('accepts sha256 and sha512', () => {
    expect(digestProblem(`sha256:${h64}`)).toBeUndefined();
    expect(digestProblem(`sha512:${'b'.repeat(128)}`)).toBeUndefined();
    expect(blobPath(`sha512:${'b'.repeat(128)}`)).toBe(`blobs/sha512/${'b'.repeat(128)}`);
  });
  it.each([
    ['sha256:../../x', /malformed/],
    [`sha256:${'A'.repeat(64)}`, /lower case/],
    ['sha256:abc', /needs 64/],
    [`md5:${'a'.repeat(32)}`, /unsupported digest algorithm "md5"/],
    ['nocolon', /malformed/],
    [42, /not a string/],
  ])('rejects %j', (value, reason) => {
    expect(digestProblem(value)).toMatch(reason);
    expect(() => parseDigest(value)).toThrow(reason);
  });
  it('never turns a bad digest into a path', () => {
    expect(() => blobPath('sha256:../../../etc/passwd')).toThrow();
  });
  it('computes chain IDs as moby does', () => {
    const a = sha256Of('a');
    const b = sha256Of('b');
    expect(chainIds([a, b])).toEqual([a, sha256Of(`${a} ${b}`)]);
  });
  it('knows the empty layer diffID', () => {
    expect(sha256Of(Buffer.alloc(1024))).toBe('sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
  });
});
