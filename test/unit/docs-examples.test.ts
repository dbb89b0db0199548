/**
 * Every example output in README.md and docs/ is the real output on samples/. An example is a
 * fenced ```console block: each `$ ` line is a shell command (`imgpack` runs this checkout's CLI),
 * and the lines up to the next `$ ` are what it prints (stdout, then stderr). The commands of a
 * block run in order, in a private temporary directory that holds a link to samples/ (so paths
 * read as they do from the repository's root), with a private store and an environment holding
 * only PATH: nothing else varies, so nothing is normalised.
 *
 * docs/image-sets.md is left out here: its examples are checked by test/e2e/find-images-docs.test.ts
 * (finding images in manifests) and test/interop/image-sets-docs.test.ts (they need a registry).
 * Examples that need a registry or real tools are written as ```sh blocks, which show commands only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliArgv } from '../helpers/spawn.js';

const root = new URL('../../', import.meta.url).pathname;
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md') && f !== 'image-sets.md').map((f) => `docs/${f}`)];

interface Step { command: string; output: string }
interface Example { page: string; line: number; steps: Step[] }

export function examplesOf(page: string, text: string): Example[] {
  const examples: Example[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```console') continue;
    const example: Example = { page, line: i + 1, steps: [] };
    for (i++; i < lines.length && lines[i] !== '```'; i++) {
      if (lines[i].startsWith('$ ')) example.steps.push({ command: lines[i].slice(2), output: '' });
      else if (example.steps.length > 0) example.steps[example.steps.length - 1].output += `${lines[i]}\n`;
      else throw new Error(`${page}:${i + 1}: a console block starts with output, not with a $ command`);
    }
    examples.push(example);
  }
  return examples;
}

const examples = pages.flatMap((page) => examplesOf(page, readFileSync(join(root, page), 'utf8')));
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe('example outputs in README.md and docs/', () => {
  it('finds the examples, in the README and in the command reference', () => {
    expect(examples.filter((e) => e.page === 'README.md').length).toBeGreaterThanOrEqual(1);
    expect(examples.filter((e) => e.page === 'docs/commands.md').length).toBeGreaterThanOrEqual(2);
  });

  it.each(pages)('%s: a block of commands with output that is not a console block says it is not checked', (page) => {
    const lines = readFileSync(join(root, page), 'utf8').split('\n');
    const unmarked: number[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (!/^```[a-z]+$/.test(lines[i]) || lines[i] === '```console' || !lines[i + 1]?.startsWith('$ ')) continue;
      if (!lines.slice(Math.max(0, i - 3), i).join(' ').includes('not checked')) unmarked.push(i + 1);
    }
    expect(unmarked).toEqual([]);
  });

  it('reads a console block as commands and their output', () => {
    const [e] = examplesOf('x.md', 'text\n```console\n$ imgpack a\none\n\ntwo\n$ imgpack b\n```\n');
    expect(e.steps).toEqual([{ command: 'imgpack a', output: 'one\n\ntwo\n' }, { command: 'imgpack b', output: '' }]);
  });

  it.each(examples.map((e) => [`${e.page}:${e.line}`, e] as const))('%s', (_where, e) => {
    const work = mkdtempSync(join(tmpdir(), 'imgpack-docs-'));
    try {
      symlinkSync(join(root, 'samples'), join(work, 'samples'));
      const define = `imgpack() { ${[process.execPath, ...cliArgv()].map(quote).join(' ')} "$@"; }`;
      for (const step of e.steps) {
        const r = spawnSync('bash', ['-c', `${define}\n${step.command}`], {
          cwd: work,
          env: { PATH: process.env.PATH ?? '', IMGPACK_STORE: join(work, '.store'), TMPDIR: work, HOME: work },
          encoding: 'utf8',
        });
        expect(`$ ${step.command}\n${r.stdout}${r.stderr}`).toBe(`$ ${step.command}\n${step.output}`);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

/** GitHub's anchor of a heading: lower case, punctuation but - and _ dropped, spaces as -. */
const anchorOf = (heading: string) => heading.toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  let inCode = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    else if (!inCode && /^#+ /.test(line)) anchors.add(anchorOf(line.replace(/^#+ /, '')));
  }
  return anchors;
}

describe('links between README.md and docs/', () => {
  const all = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  it.each(all)('%s links only to pages and headings that exist', (page) => {
    const broken: string[] = [];
    for (const [, target] of readFileSync(join(root, page), 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split('#');
      const path = file ? join(root, dirname(page), file) : join(root, page);
      if (!existsSync(path)) broken.push(target);
      else if (anchor && path.endsWith('.md') && !anchorsOf(readFileSync(path, 'utf8')).has(anchor)) broken.push(target);
    }
    expect(broken).toEqual([]);
  });
});
