/**
 * Hostile YAML for find-images: an alias bomb, a 100 MB document, 10k-deep nesting, binary
 * garbage, unrendered templates, random text. Each ends in problems naming the file and line (the
 * CLI: one line each, exit 1, no stack trace), never a hang or a crash, and never stops the other
 * documents or files from being read. The test timeout is the "no hang" bound.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findImages } from '../../src/ops/find-images.js';
import { MAX_YAML_DEPTH, MAX_YAML_DOCUMENT_BYTES, parseYamlStream } from '../../src/io/yaml-stream.js';
import { MAX_MANIFEST_BYTES } from '../../src/ops/manifests/reader.js';
import { runCli } from '../helpers/cli.js';
import { runProcess } from '../helpers/spawn.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const STRESS = process.env.IMGPACK_STRESS === '1';
const dir = tempDir();
let n = 0;
const file = (text: string | Buffer, name = `m-${n++}.yaml`) => writeTemp(dir, name, text);

const POD = 'apiVersion: v1\nkind: Pod\nmetadata: {name: fine}\nspec:\n  containers:\n  - name: c\n    image: busybox:1.36\n';

/** The CLI's promises for a hostile file: exit 1, only one-line `imgpack:` messages naming file:line, no trace. */
async function attack(path: string, expectedCode: string, line?: number) {
  const lib = await findImages([path], { env: {} });
  const problem = lib.problems.find((p) => p.code === expectedCode);
  expect(problem, JSON.stringify(lib.problems)).toBeDefined();
  expect(problem!.file).toBe(path);
  if (line !== undefined) expect(problem!.line).toBe(line);
  const cli = await runCli('find-images', path);
  expect(cli.code).toBe(1);
  expect(cli.stderr).not.toMatch(/unexpected error|\n\s+at /);
  const lines = cli.stderr.trim().split('\n');
  for (const l of lines) expect(l).toMatch(new RegExp(`^imgpack: .+ \\(${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(:\\d+)?\\)$`));
  return { lib, cli, problem: problem! };
}

describe('alias bombs', () => {
  it('a billion laughs: refused by the alias limit, naming the line of the first alias, after the good document before it', async () => {
    let bomb = 'apiVersion: v1\nkind: List\nlol:\n  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    let prev = 'a';
    for (const c of 'bcdefghi') {
      bomb += `  ${c}: &${c} [${Array(9).fill(`*${prev}`).join(',')}]\n`;
      prev = c;
    }
    bomb += `items: *${prev}\n`;
    const path = file(`${POD}---\n${bomb}`);
    const { lib, cli, problem } = await attack(path, 'yaml-limit-aliases', 13);
    expect(problem.document).toBe(2);
    expect(problem.message).toMatch(/alias/);
    expect(lib.references.map((r) => r.reference)).toEqual(['busybox:1.36']);
    expect(cli.stdout).toBe('busybox:1.36\n');
  });

  it('a compose file with many aliases of one anchor (a real pattern) is not a bomb', async () => {
    const services = Array.from({ length: 200 }, (_, i) => `  s${i}:\n    <<: *common\n    image: app/s${i}:1\n    logging: *logging\n`).join('');
    const lib = await findImages([file(`x-common: &common {restart: always, image: base:1}\nx-logging: &logging {driver: json-file}\nservices:\n${services}`)], { env: {} });
    expect(lib.problems).toEqual([]);
    expect(lib.references).toHaveLength(200);
  });
});

describe('size', () => {
  it(`a 100 MB file: refused unread (over the ${MAX_MANIFEST_BYTES >> 20} MiB limit)`, async () => {
    const big = Buffer.alloc(100_000_000, 'a');
    big.write('x: ', 0);
    const path = file(big);
    const { problem } = await attack(path, 'manifest-too-large');
    expect(problem.message).toMatch(/100000000 bytes, larger than the 64 MiB limit/);
  });

  it('a 100 MB document on standard input: refused once the limit is read, exit 1, one line', () => {
    const big = Buffer.alloc(100_000_000, 'a');
    big.write('x: ', 0);
    const r = runProcess(['find-images', '-'], {}, big);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('imgpack: more than 64 MiB, the limit for a manifest stream (standard input)');
  });

  it(`a document over ${MAX_YAML_DOCUMENT_BYTES >> 20} MiB: refused before parsing, with its line; the documents around it are read`, async () => {
    const huge = `kind: ConfigMap\ndata:\n  x: "${'y'.repeat(MAX_YAML_DOCUMENT_BYTES)}"\n`;
    const path = file(`${POD}---\n${huge}---\n${POD.replace('busybox:1.36', 'alpine:3')}`);
    const { lib, problem } = await attack(path, 'yaml-limit-size', 8);
    expect(problem.document).toBe(2);
    expect(lib.references.map((r) => r.reference)).toEqual(['alpine:3', 'busybox:1.36']);
  });
});

describe('nesting', () => {
  const cases: [string, string, number][] = [
    ['10k flow sequences', `${'['.repeat(10_000)}${']'.repeat(10_000)}`, 1],
    ['10k flow mappings', `${'{a: '.repeat(10_000)}x${'}'.repeat(10_000)}`, 1],
    ['10k compact block sequences on one line', `${'- '.repeat(10_000)}x`, 1],
    ['10k unclosed flow sequences', '['.repeat(10_000), 1],
    ['300 indented mappings, one a line', Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' x', MAX_YAML_DEPTH + 1],
  ];
  it.each(cases)('%s: refused before the composer recurses, with the line', async (_label, text, line) => {
    const path = file(`${POD}---\n${text}\n`);
    const { lib, problem } = await attack(path, 'yaml-limit-depth', 9 + line - 1); // the hostile document starts on line 9
    expect(problem.message).toBe(`YAML nested more than ${MAX_YAML_DEPTH} levels deep, the limit`);
    expect(lib.references.map((r) => r.reference)).toEqual(['busybox:1.36']);
  });

  it(`nesting at the limit (${MAX_YAML_DEPTH}) parses; one more is refused`, () => {
    const at = parseYamlStream(`${'['.repeat(MAX_YAML_DEPTH)}${']'.repeat(MAX_YAML_DEPTH)}`);
    expect(at.problems).toEqual([]);
    expect(at.documents).toHaveLength(1);
    const blockAt = parseYamlStream(Array.from({ length: MAX_YAML_DEPTH }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' x');
    expect(blockAt.problems).toEqual([]);
    const over = parseYamlStream(`${'['.repeat(MAX_YAML_DEPTH + 1)}${']'.repeat(MAX_YAML_DEPTH + 1)}`);
    expect(over.problems.map((p) => p.code)).toEqual(['yaml-limit-depth']);
  });
});

describe('not YAML', () => {
  /** Deterministic bytes (a linear congruential generator). */
  const garbage = (size: number, seed: number, avoidNul = false) => {
    const b = Buffer.alloc(size);
    let x = seed;
    for (let i = 0; i < size; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i] = avoidNul ? 1 + ((x >>> 16) % 255) : (x >>> 16) & 0xff;
    }
    return b;
  };

  it('binary garbage (1 MiB): "binary data", with the line of the first NUL', async () => {
    const bytes = Buffer.concat([Buffer.from('a: b\nc: d\n'), garbage(1 << 20, 7)]);
    const nulLine = 1 + bytes.subarray(0, bytes.indexOf(0)).toString('latin1').split('\n').length - 1;
    const { problem } = await attack(file(bytes), 'yaml-binary', nulLine);
    expect(problem.message).toBe('binary data, not YAML (a NUL byte)');
  });

  it('garbage without NUL bytes: not UTF-8, with its line', async () => {
    const { problem } = await attack(file(Buffer.concat([Buffer.from('a: b\n\n'), garbage(4096, 3, true)])), 'yaml-binary');
    expect(problem.message).toBe('binary data, not YAML (not UTF-8 text)');
    expect(problem.line).toBeGreaterThanOrEqual(3);
  });

  it('text that is not YAML: the error of the document, with its line, the others read', async () => {
    const path = file(`${POD}---\nkind: Pod\nspec: [unclosed\n  containers: {\n---\n${POD.replace('busybox:1.36', 'alpine:3')}`);
    const { lib, problem } = await attack(path, 'yaml-invalid');
    expect(problem.line).toBe(11); // the unclosed flow collections end the document there
    expect(problem.message).not.toMatch(/\n/);
    expect(lib.references.map((r) => r.reference)).toEqual(['alpine:3', 'busybox:1.36']);
  });

  it('a directory of bad files next to good ones: every bad one named, the good ones read', async () => {
    const d = join(dir, 'mixed');
    mkdirSync(d);
    writeFileSync(join(d, 'a-good.yaml'), POD);
    writeFileSync(join(d, 'b-binary.yml'), garbage(1000, 11));
    writeFileSync(join(d, 'c-template.yaml'), 'kind: Pod\nmetadata:\n  name: {{ .Release.Name }}-x\n');
    writeFileSync(join(d, 'd-deep.yaml'), '['.repeat(100_000));
    const lib = await findImages([d], { env: {} });
    expect(lib.references.map((r) => r.reference)).toEqual(['busybox:1.36']);
    expect(lib.problems.map((p) => [p.file.slice(d.length + 1), p.code, p.line])).toEqual([
      ['b-binary.yml', 'yaml-binary', expect.any(Number)],
      ['c-template.yaml', 'template-unrendered', 3],
      ['d-deep.yaml', 'yaml-limit-depth', 1],
    ]);
  });

  it('random text never throws: problems carry a line inside the file', async () => {
    const alphabet = fc.constantFrom(...'ab:- \n\t[]{}&*!|>\'"#%@`,?0{{}}$<<'.split(''), 'kind: Pod\n', 'image: ', '---\n', '  ', '&a ', '*a', '<<: ');
    await fc.assert(fc.asyncProperty(fc.array(alphabet, { maxLength: 200 }), async (parts) => {
      const text = parts.join('');
      const path = file(text, 'random.yaml');
      const lib = await findImages([path], { env: {} });
      const lines = text.split('\n').length;
      for (const p of lib.problems) if (p.line !== undefined) expect(p.line).toBeLessThanOrEqual(lines);
    }), { numRuns: STRESS ? 5000 : 300, seed: STRESS ? undefined : 5 });
  });
});
