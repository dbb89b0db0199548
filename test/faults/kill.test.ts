/**
 * kill -9 at random points of convert, merge, tag in place, load into the store and save into
 * volumes (spawned processes): the inputs are intact; each output is absent or complete and
 * valid; the store verifies. Spooled temporaries live in $TMPDIR on ANOTHER file system than the
 * outputs (/dev/shm when it is one), so outputs must still appear by rename beside themselves.
 * A SIGKILL cannot be caught: temporaries (`.NAME.imgpack-XXXX.tmp`, the spool folder) may stay
 * behind, and that is all that may. Iterations: IMGPACK_KILL_ITERATIONS, else 3 per operation in
 * CI and 25 under IMGPACK_STRESS=1.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage, dockerArchiveEntries, ociEntries, tarBuffer } from '../../src/testing/build.js';
import { runCli } from '../helpers/cli.js';
import { exited, startProcess } from '../helpers/spawn.js';
import { tempDir, writeTemp } from '../helpers/tmp.js';

const ITERATIONS = Number(process.env.IMGPACK_KILL_ITERATIONS || (process.env.IMGPACK_STRESS === '1' ? 25 : 3));
const dir = tempDir();
// $TMPDIR on another file system than `dir` when /dev/shm is one (it is a tmpfs on Linux).
const otherFs = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(dir).dev;
const spool = mkdtempSync(join(otherFs ? '/dev/shm' : dir, 'imgpack-faults-'));
afterAll(() => rmSync(spool, { recursive: true, force: true }));
const env = { TMPDIR: spool, IMGPACK_TMPDIR: spool };

/** A deterministic PRNG (mulberry32): the kill points are reproducible from the seed. */
function prng(seed: number) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(Number(process.env.IMGPACK_KILL_SEED || 20240601));

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const layers = (tag: string, count: number) => Array.from({ length: count }, (_, i) => ({ files: { [`${tag}-${i}`]: randomBytes(2 << 20).toString('base64') } }));
const a = await buildImage({ names: ['kill/a:1'], layers: layers('a', 5) }, 'docker');
const b = await buildImage({ names: ['kill/b:1'], layers: layers('b', 4) });
const archiveA = writeTemp(dir, 'a.tar', await tarBuffer(dockerArchiveEntries([a])));
const archiveB = writeTemp(dir, 'b.tar', await tarBuffer(ociEntries([b], { hybrid: true })));
const inputs = [archiveA, archiveB];
const before = new Map(inputs.map((p) => [p, sha(p)]));

/** How long a command takes when nobody kills it: kill points are drawn within that. */
const durations = new Map<string, number>();
async function calibrate(key: string, args: string[]) {
  if (durations.has(key)) return durations.get(key)!;
  const t0 = Date.now();
  const child = startProcess(args, env);
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  expect((await exited(child)).code).toBe(0);
  clearTimeout(guard);
  durations.set(key, Date.now() - t0);
  return Date.now() - t0;
}

/** Starts the command, kills it at a random point of its usual run time, returns how it ended. */
async function killAtRandom(args: string[], calibration: string[]) {
  const span = await calibrate(args.find((a) => !a.startsWith('-')) ?? '', calibration);
  const child = startProcess(args, env);
  const delay = 20 + Math.floor(random() * span);
  const timer = setTimeout(() => child.kill('SIGKILL'), delay);
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000); // a hung child never outlives the test
  const end = await exited(child);
  clearTimeout(timer);
  clearTimeout(guard);
  return { ...end, delay };
}

/** Only the output or nothing under the final name; temporaries are dot-files beside it. */
function leftovers(folder: string, finals: string[]) {
  return readdirSync(folder).filter((f) => !finals.includes(f) && !/^\..*\.imgpack-[0-9a-f]{8}\.tmp$/.test(f));
}

async function expectValidOrAbsent(path: string, label: string) {
  if (!existsSync(path)) return 'absent';
  const v = await runCli('verify', path, '--json');
  expect(v.json().problems, `${label}: ${path} exists, so it must be whole`).toEqual([]);
  return 'complete';
}

function inputsIntact() {
  for (const [p, h] of before) expect(sha(p), p).toBe(h);
}

describe(`kill -9 at random points (${ITERATIONS} per operation, TMPDIR ${otherFs ? 'on /dev/shm, another file system' : 'beside'})`, () => {
  const outcomes: Record<string, Record<string, number>> = {};
  const count = (op: string, what: string) => { (outcomes[op] ??= {})[what] = (outcomes[op][what] ?? 0) + 1; };
  afterAll(() => console.log('kill -9 outcomes:', JSON.stringify(outcomes)));

  it('convert (also gzip-wrapped input spooled to $TMPDIR, and gzip output)', async () => {
    const gz = join(dir, 'a.tar.gz');
    expect((await runCli('convert', archiveA, '-o', gz, '--compress', 'gzip')).code).toBe(0);
    for (let i = 0; i < ITERATIONS; i++) {
      const folder = join(dir, `convert-${i}`);
      mkdirSync(folder);
      const out = join(folder, i % 2 ? 'out.tar' : 'out.tar.gz');
      const r = await killAtRandom(['convert', i % 3 === 2 ? gz : archiveA, '-o', out], ['convert', archiveA, '-o', join(dir, 'convert-calibrate.tar')]);
      count('convert', r.signal ? await expectValidOrAbsent(out, `convert #${i} killed at ${r.delay} ms`) : 'finished');
      if (!r.signal) expect(r.code).toBe(0);
      expect(leftovers(folder, ['out.tar', 'out.tar.gz'])).toEqual([]);
    }
    inputsIntact();
  });

  it('merge', async () => {
    for (let i = 0; i < ITERATIONS; i++) {
      const out = join(dir, `merged-${i}.tar`);
      const r = await killAtRandom(['merge', archiveA, archiveB, '-o', out], ['merge', archiveA, archiveB, '-o', join(dir, 'merge-calibrate.tar')]);
      count('merge', r.signal ? await expectValidOrAbsent(out, `merge #${i}`) : 'finished');
    }
    inputsIntact();
  });

  it('tag in place: the archive is the old one or the new one, never a mix', async () => {
    for (let i = 0; i < ITERATIONS; i++) {
      const folder = join(dir, `tag-${i}`);
      mkdirSync(folder);
      const target = join(folder, 'a.tar');
      writeTemp(folder, 'a.tar', readFileSync(archiveA));
      const r = await killAtRandom(['tag', target, 'kill/a:1', 'kill/a:new'], ['tag', writeTemp(dir, 'tag-calibrate.tar', readFileSync(archiveA)), 'kill/a:1', 'kill/a:new']);
      const tags = (await runCli('inspect', target, '--json')).json().images[0].repoTags;
      if (sha(target) === before.get(archiveA)) count('tag', 'old');
      else {
        expect((await runCli('verify', target)).code, `tag #${i} killed at ${r.delay} ms`).toBe(0);
        expect(tags).toContain('docker.io/kill/a:new');
        count('tag', 'new');
      }
      expect(leftovers(folder, ['a.tar'])).toEqual([]);
    }
  });

  it('load into the store, then save with volumes from it: the store verifies; a volume set is whole or absent', async () => {
    for (let i = 0; i < ITERATIONS; i++) {
      // A fresh store each time, so that the load has work to do; every other one already holds b.
      const fresh = join(dir, `store-${i}`);
      if (i % 2) expect((await runCli('--store', fresh, 'load', '-i', archiveB)).code).toBe(0);
      const r = await killAtRandom(['--store', fresh, 'load', '-i', archiveA, '-i', archiveB], ['--store', join(dir, 'store-calibrate'), 'load', '-i', archiveA, '-i', archiveB]);
      count('load', r.signal ? 'killed' : 'finished');
      // Killed before it made the store: verify store: now says there is none (issue 13 item 14).
      const v = await runCli('--store', fresh, 'verify', 'store:', '--json');
      if (v.code === 2) expect(v.stderr).toBe(`imgpack: no store at ${fresh}\n`);
      else expect(v.json().problems, `load #${i} killed at ${r.delay} ms`).toEqual([]);
      expect((await runCli('--store', fresh, 'load', '-i', archiveA, '-i', archiveB)).code, 'a rerun completes').toBe(0);
      rmSync(fresh, { recursive: true, force: true });
    }
    const store = join(dir, 'store-calibrate');
    inputsIntact();
    for (let i = 0; i < ITERATIONS; i++) {
      const folder = join(dir, `vol-${i}`);
      mkdirSync(folder);
      const out = join(folder, 'bundle.tar');
      const r = await killAtRandom(['--store', store, 'save', '--all', '-o', out, '--volume-size', '4M'], ['--store', store, 'save', '--all', '-o', join(dir, 'save-calibrate.tar'), '--volume-size', '4M']);
      let outcome = r.signal ? 'absent' : 'finished';
      if (existsSync(`${out}.001`)) {
        // FILE.001 appears last: when it is there, every volume is, with or without the manifest.
        const v = await runCli('verify', existsSync(`${out}.imgpack.json`) ? `${out}.imgpack.json` : `${out}.001`, '--json');
        expect(v.json().problems, `save #${i} killed at ${r.delay} ms`).toEqual([]);
        if (r.signal) outcome = 'complete';
      }
      count('save --volume-size', outcome);
      expect(readdirSync(folder).filter((f) => !/^(bundle\.tar\.(\d{3}|imgpack\.json)|\..*\.tmp)$/.test(f))).toEqual([]);
    }
    expect((await runCli('--store', store, 'verify', 'store:')).code).toBe(0);
  });
});
