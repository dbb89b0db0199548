/**
 * A FileTree of new files laid over another source: what `commit` hands to the copy engine.
 * A blob the new layout does not hold is looked up by digest in the base source, wherever that
 * source keeps it (blobs/, or a docker-archive's layer path).
 */
import type { Readable } from 'node:stream';
import type { FileTree, Resolution, TreeFile } from '../io/file-tree.js';
import type { Segment } from '../io/segmented-file.js';
import { digestProblem } from '../model/digest.js';
import type { ArchiveSource } from './source.js';

const BASE = '\0base:';

export class OverlayTree implements FileTree {
  readonly kind = 'dir';
  readonly problems = [];
  constructor(private readonly top: FileTree, private readonly base: ArchiveSource | undefined) {}

  get path(): string {
    return this.top.path;
  }

  names(): string[] {
    return this.top.names();
  }

  links() {
    return this.top.links();
  }

  exists(name: string): boolean {
    return this.top.exists(name) || this.baseMember(name) !== undefined;
  }

  private baseMember(name: string): string | undefined {
    const m = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(name);
    if (!m || !this.base || digestProblem(`${m[1]}:${m[2]}`)) return undefined;
    const member = this.base.memberOf(`${m[1]}:${m[2]}`);
    return this.base.tree.exists(member) ? member : undefined;
  }

  async resolve(name: string): Promise<Resolution> {
    const r = await this.top.resolve(name);
    if (r.ok || !this.base) return r;
    const member = this.baseMember(name);
    if (!member) return r;
    const b = await this.base.tree.resolve(member);
    return b.ok ? { ok: true, file: { ...b.file, name, target: BASE + b.file.target } } : b;
  }

  private route(file: TreeFile): [FileTree, TreeFile] {
    if (file.target.startsWith(BASE)) return [this.base!.tree, { ...file, target: file.target.slice(BASE.length) }];
    return [this.top, file];
  }

  openRange(file: TreeFile, start?: number, end?: number): Readable {
    const [tree, f] = this.route(file);
    return tree.openRange(f, start, end);
  }

  head(file: TreeFile, length: number): Promise<Buffer> {
    const [tree, f] = this.route(file);
    return tree.head(f, length);
  }

  location(file: TreeFile): Segment[] {
    const [tree, f] = this.route(file);
    return tree.location(f);
  }

  async close(): Promise<void> {
    await this.top.close();
  }
}
