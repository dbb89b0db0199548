import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { SHARED } from './shared.js';

export const REALTOOLS = resolve(SHARED, 'tools/realtools');

export interface Verdict {
  verdict: 'ACCEPT' | 'REJECT' | 'SKIP' | 'WARN';
  detail: string;
}

export interface Acceptance {
  code: number;
  output: string;
  consumers: Map<string, Verdict[]>;
  /** Names each consumer says it loaded. */
  loaded(consumer: string): string[];
}

export function realToolsAvailable(): boolean {
  return existsSync(resolve(REALTOOLS, 'accepts.sh')) && spawnSync('sh', ['-c', 'command -v skopeo && command -v podman && command -v umoci && command -v dockerd'], { stdio: 'ignore' }).status === 0;
}

/** ../shared/tools/realtools/accepts.sh with RT_STRICT=1: every real consumer must load it. */
export function accepts(path: string, strict = true): Acceptance {
  const r = spawnSync('bash', [resolve(REALTOOLS, 'accepts.sh'), path], { env: { ...process.env, RT_STRICT: strict ? '1' : '' }, encoding: 'utf8', timeout: 300_000 });
  const output = `${r.stdout}${r.stderr}`;
  const consumers = new Map<string, Verdict[]>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(ACCEPT|REJECT|SKIP|WARN) ([a-z-]+): (.*)$/.exec(line);
    if (!m) continue;
    const list = consumers.get(m[2]) ?? [];
    list.push({ verdict: m[1] as Verdict['verdict'], detail: m[3] });
    consumers.set(m[2], list);
  }
  return {
    code: r.status ?? -1,
    output,
    consumers,
    loaded(consumer: string) {
      const v = consumers.get(consumer)?.find((x) => x.verdict === 'ACCEPT' && x.detail.startsWith('loaded '));
      if (!v) return [];
      return v.detail.replace(/^loaded /, '').replace(/ \(.*$/, '').split(' ').filter((n) => n && !n.startsWith('sha256:'));
    },
  };
}
