/**
 * The examples of docs/image-sets.md's "Finding images in manifests" are real: each `$ imgpack
 * find-images ...` line is run (from the project's root, with an environment holding only PATH)
 * and its stdout, and its `imgpack:` lines on stderr, are what the page shows.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cliArgv } from '../helpers/spawn.js';

const root = new URL('../../', import.meta.url).pathname;
const page = readFileSync(`${root}docs/image-sets.md`, 'utf8');
const section = page.slice(page.indexOf('## Finding images in manifests'));
const mine = section.slice(0, section.indexOf('\n## ', 5) > 0 ? section.indexOf('\n## ', 5) : undefined);

interface Example { command: string; stdout: string; stderr: string }
const examples: Example[] = [];
for (const block of mine.matchAll(/```console\n([\s\S]*?)```/g)) {
  let current: Example | undefined;
  for (const line of block[1].split('\n')) {
    if (line.startsWith('$ ')) {
      current = { command: line.slice(2), stdout: '', stderr: '' };
      examples.push(current);
    } else if (current && line !== '') {
      if (line.startsWith('imgpack: ')) current.stderr += `${line}\n`;
      else current.stdout += `${line}\n`;
    }
  }
}

describe('docs/image-sets.md: finding images in manifests', () => {
  it('has examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(6);
  });

  it.each(examples.map((e) => [e.command, e] as const))('$ %s', (_command, e) => {
    const words = e.command.split(' ');
    expect(words[0]).toBe('imgpack');
    const redirect = words.indexOf('<');
    const input = redirect > 0 ? readFileSync(`${root}${words[redirect + 1]}`) : undefined;
    const args = redirect > 0 ? words.slice(1, redirect) : words.slice(1);
    const r = spawnSync(process.execPath, cliArgv(...args), { cwd: root, env: { PATH: process.env.PATH ?? '' }, input, encoding: 'utf8' });
    expect(r.stdout).toBe(e.stdout);
    expect(r.stderr).toBe(e.stderr);
  });
});
