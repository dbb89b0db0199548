/**
 * `diff`: what changed between two images: layers shared and not (by diffID), configuration
 * fields, and files added, removed and changed (type, mode, owner, size, link target, content
 * digest) in the flattened filesystems.
 */
import { createHash } from 'node:crypto';
import type { ArchiveSource } from '../formats/source.js';
import type { ImageRecord } from '../model/catalog.js';
import { flatten } from './export.js';

export interface FileInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname?: string;
  digest?: string;
}

export interface DiffReport {
  same: boolean;
  a: { id: string; names: string[] };
  b: { id: string; names: string[] };
  layers: { shared: string[]; onlyA: string[]; onlyB: string[] };
  config: { field: string; a: unknown; b: unknown }[];
  /** A changed file: which fields differ, with their values in A and in B. */
  files: { added: string[]; removed: string[]; changed: { path: string; fields: (keyof FileInfo)[]; a: Partial<FileInfo>; b: Partial<FileInfo> }[] };
}

const CONFIG_FIELDS = ['Cmd', 'Entrypoint', 'Env', 'Labels', 'User', 'WorkingDir', 'ExposedPorts', 'Volumes', 'StopSignal', 'OnBuild', 'Healthcheck'];
const TOP_FIELDS = ['architecture', 'os', 'variant', 'author'];

export async function filesOf(source: ArchiveSource, image: ImageRecord): Promise<Map<string, FileInfo>> {
  const files = new Map<string, FileInfo>();
  for await (const { header, content } of flatten(source, image)) {
    const path = header.name.replace(/\/$/, '');
    const info: FileInfo = { type: header.type ?? 'file', mode: header.mode ?? 0, uid: header.uid ?? 0, gid: header.gid ?? 0, size: header.size ?? 0 };
    if (header.linkname) info.linkname = header.linkname;
    if (content) {
      const h = createHash('sha256');
      for await (const chunk of content) h.update(chunk as Buffer);
      info.digest = `sha256:${h.digest('hex')}`;
    } else if (info.type === 'file' || info.type === 'contiguous-file') {
      info.digest = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    }
    files.set(path, info);
  }
  return files;
}

export async function diffImages(sa: ArchiveSource, a: ImageRecord, sb: ArchiveSource, b: ImageRecord): Promise<DiffReport> {
  const la = (a.manifests[0]?.layers ?? []).map((l) => l.diffId ?? l.descriptor.digest);
  const lb = (b.manifests[0]?.layers ?? []).map((l) => l.diffId ?? l.descriptor.digest);
  const layers = { shared: la.filter((d) => lb.includes(d)), onlyA: la.filter((d) => !lb.includes(d)), onlyB: lb.filter((d) => !la.includes(d)) };

  const config: DiffReport['config'] = [];
  const ca = (a.config.json.config ?? {}) as Record<string, unknown>;
  const cb = (b.config.json.config ?? {}) as Record<string, unknown>;
  for (const f of CONFIG_FIELDS) if (JSON.stringify(ca[f] ?? null) !== JSON.stringify(cb[f] ?? null)) config.push({ field: `config.${f}`, a: ca[f] ?? null, b: cb[f] ?? null });
  for (const f of TOP_FIELDS) if (JSON.stringify(a.config.json[f] ?? null) !== JSON.stringify(b.config.json[f] ?? null)) config.push({ field: f, a: a.config.json[f] ?? null, b: b.config.json[f] ?? null });

  const files: DiffReport['files'] = { added: [], removed: [], changed: [] };
  if (la.join() !== lb.join()) {
    const fa = await filesOf(sa, a);
    const fb = await filesOf(sb, b);
    for (const [path, x] of fa) {
      const y = fb.get(path);
      if (!y) {
        files.removed.push(path);
        continue;
      }
      const fields = (['type', 'mode', 'uid', 'gid', 'size', 'linkname', 'digest'] as const).filter((k) => x[k] !== y[k]);
      if (fields.length) files.changed.push({ path, fields, a: pick(x, fields), b: pick(y, fields) });
    }
    for (const path of fb.keys()) if (!fa.has(path)) files.added.push(path);
    files.added.sort();
    files.removed.sort();
    files.changed.sort((p, q) => p.path.localeCompare(q.path));
  }
  const same = a.id === b.id || (layers.onlyA.length === 0 && layers.onlyB.length === 0 && config.length === 0 && !files.added.length && !files.removed.length && !files.changed.length);
  return { same, a: { id: a.id, names: a.repoTags }, b: { id: b.id, names: b.repoTags }, layers, config, files };
}

function pick(info: FileInfo, fields: (keyof FileInfo)[]): Partial<FileInfo> {
  return Object.fromEntries(fields.map((f) => [f, info[f]])) as Partial<FileInfo>;
}
