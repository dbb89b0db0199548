/**
 * `-c/--change` instructions in Dockerfile syntax, with docker commit's set: CMD, ENTRYPOINT,
 * ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL. JSON form (`["a","b"]`) and
 * shell form (`a b`, run through /bin/sh -c for CMD and ENTRYPOINT), `ENV a=b c=d` and `ENV a b`.
 */
import { usage } from '../errors.js';

export type ContainerConfig = Record<string, unknown>;

const SUPPORTED = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'USER', 'VOLUME', 'WORKDIR', 'STOPSIGNAL'];

export function applyChange(config: ContainerConfig, change: string): void {
  const m = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(change);
  if (!m) throw usage('bad-change', 'a change is a Dockerfile instruction, e.g. CMD ["/bin/sh"]', change);
  const instr = m[1].toUpperCase();
  const rest = (m[2] ?? '').trim();
  if (!SUPPORTED.includes(instr)) throw usage('bad-change', `${instr} is not a change docker commit accepts (${SUPPORTED.join(', ')})`, change);
  if (!rest) throw usage('bad-change', `${instr} needs an argument`, change);
  switch (instr) {
    case 'CMD':
    case 'ENTRYPOINT': {
      const json = jsonArray(rest);
      config[instr === 'CMD' ? 'Cmd' : 'Entrypoint'] = json ?? ['/bin/sh', '-c', rest];
      return;
    }
    case 'ENV': {
      const env = (config.Env as string[] | undefined) ?? [];
      for (const [k, v] of keyValues(rest, change)) {
        const i = env.findIndex((e) => e.split('=')[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      config.Env = env;
      return;
    }
    case 'LABEL': {
      const labels = (config.Labels as Record<string, string> | undefined) ?? {};
      for (const [k, v] of keyValues(rest, change)) labels[k] = v;
      config.Labels = labels;
      return;
    }
    case 'EXPOSE': {
      const ports = (config.ExposedPorts as Record<string, object> | undefined) ?? {};
      for (const p of rest.split(/\s+/)) {
        if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(p)) throw usage('bad-change', `invalid port "${p}"`, change);
        ports[p.includes('/') ? p : `${p}/tcp`] = {};
      }
      config.ExposedPorts = ports;
      return;
    }
    case 'VOLUME': {
      const vols = (config.Volumes as Record<string, object> | undefined) ?? {};
      for (const v of jsonArray(rest) ?? rest.split(/\s+/)) vols[v] = {};
      config.Volumes = vols;
      return;
    }
    case 'ONBUILD':
      config.OnBuild = [...((config.OnBuild as string[] | undefined) ?? []), rest];
      return;
    case 'USER':
      config.User = rest;
      return;
    case 'WORKDIR':
      config.WorkingDir = rest.startsWith('/') ? rest : `${(config.WorkingDir as string) || '/'}/${rest}`.replace(/\/+/g, '/');
      return;
    case 'STOPSIGNAL':
      config.StopSignal = rest;
  }
}

function jsonArray(s: string): string[] | undefined {
  if (!s.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(s);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // shell form after all, as docker does for a malformed JSON array
  }
  return undefined;
}

/** `a=b c="d e"` or the legacy `a b c` (one pair). */
function keyValues(s: string, change: string): [string, string][] {
  if (!/^[^\s=]+=/.test(s)) {
    const sp = s.search(/\s/);
    if (sp < 0) throw usage('bad-change', 'expected NAME=VALUE or NAME VALUE', change);
    return [[s.slice(0, sp), s.slice(sp).trim()]];
  }
  const out: [string, string][] = [];
  const re = /(?:"([^"]*)"|([^\s=]+))=("((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*))/g;
  let m: RegExpExecArray | null;
  let consumed = '';
  while ((m = re.exec(s))) {
    out.push([m[1] ?? m[2], m[4] !== undefined ? m[4].replace(/\\(.)/g, '$1') : m[5] ?? m[6] ?? '']);
    consumed += m[0];
  }
  if (s.replace(/\s+/g, '') !== consumed.replace(/\s+/g, '')) throw usage('bad-change', 'could not parse NAME=VALUE pairs', change);
  return out;
}
