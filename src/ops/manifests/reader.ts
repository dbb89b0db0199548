/**
 * Reading one manifest file (or standard input) into image sites and problems: bytes within a
 * size limit, text, YAML documents (io/yaml-stream.ts keeps the hostile ones out), then each
 * document as a compose file or a Kubernetes object.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeYamlText, yamlDocuments, type YamlDocument } from '../../io/yaml-stream.js';
import { YamlTree, TreeBudgetError } from './yaml-tree.js';
import { kubernetesImages } from './kubernetes.js';
import { composeImages, isComposeFile, parseDotEnv, type Variables } from './compose.js';
import { TEMPLATE_HINT, firstTemplateLine, structuralTemplateLine } from './templates.js';
import type { Findings } from './sites.js';

/** A manifest file, or a stream of helm output, larger than this is refused unread. */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/** A .env file is a few lines; a larger one is not read. */
const MAX_DOTENV_BYTES = 1024 * 1024;

export type ReadMode = 'any' | 'kubernetes';

export interface ReadContext {
  env: Record<string, string | undefined>;
}

/** The bytes of a file, or a problem when it is larger than the limit or cannot be read. */
export async function readManifestBytes(file: string, display: string, out: Findings): Promise<Buffer | undefined> {
  try {
    const fh = await open(file, 'r');
    try {
      const st = await fh.stat();
      if (st.isFile()) {
        if (st.size > MAX_MANIFEST_BYTES) {
          out.problems.push({ file: display, code: 'manifest-too-large', severity: 'error', message: `${st.size} bytes, larger than the ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB limit for a manifest file` });
          return undefined;
        }
        return await fh.readFile();
      }
      // A pipe (`<(helm template ...)`), a device: read as a stream, within the limit.
      return await readStreamLimited(fh.createReadStream(), display, out);
    } finally {
      await fh.close().catch(() => undefined);
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    out.problems.push({ file: display, code: 'manifest-unreadable', severity: 'error', message: `cannot read: ${err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message.split('\n')[0]}` });
    return undefined;
  }
}

/** Everything a stream holds, up to the limit; a problem (and undefined) past it. */
export async function readStreamLimited(stream: NodeJS.ReadableStream, display: string, out: Findings): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > MAX_MANIFEST_BYTES) {
      out.problems.push({ file: display, code: 'manifest-too-large', severity: 'error', message: `more than ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB, the limit for a manifest stream` });
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      return undefined;
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/**
 * The images of a manifest's bytes. `dir` is where a compose file's `.env` is looked for
 * (undefined for standard input); `mode` 'kubernetes' reads every document as Kubernetes
 * (kustomize resources). The parsed documents are returned only when `keep` (small files: a
 * kustomization); otherwise each is dropped once read.
 */
export async function manifestImages(bytes: Buffer, display: string, dir: string | undefined, mode: ReadMode, ctx: ReadContext, out: Findings, keep = false): Promise<YamlDocument[]> {
  const decoded = decodeYamlText(bytes);
  if (!('text' in decoded)) {
    out.problems.push({ file: display, line: decoded.line, code: decoded.code, severity: 'error', message: decoded.message });
    return [];
  }
  const documents: YamlDocument[] = [];
  let variables: Variables | undefined;
  for (const item of yamlDocuments(decoded.text)) {
    if ('problem' in item) {
      const p = item.problem;
      const template = p.code === 'yaml-invalid' && p.source !== undefined ? firstTemplateLine(p.source, p.firstLine ?? 1) : undefined;
      if (template !== undefined) {
        out.problems.push({ file: display, line: template, document: p.document, code: 'template-unrendered', severity: 'error', message: `an unrendered template ({{ }}): ${TEMPLATE_HINT}` });
      } else {
        out.problems.push({ file: display, line: p.line, document: p.document, code: p.code, severity: 'error', message: p.message });
      }
      continue;
    }
    const yaml = item.document;
    if (keep) documents.push(yaml);
    const tree = new YamlTree(yaml);
    try {
      const structural = structuralTemplateLine(yaml);
      if (structural !== undefined) {
        out.problems.push({ file: display, line: structural, document: yaml.index, code: 'template-unrendered', severity: 'error', message: `an unrendered template ({{ }}): ${TEMPLATE_HINT}` });
      }
      const root = tree.root;
      if (mode === 'any' && isComposeFile(tree, root)) {
        variables ??= await composeVariables(dir, ctx);
        composeImages(tree, root, display, variables, out);
      } else {
        kubernetesImages(tree, root, display, out);
      }
    } catch (e) {
      if (!(e instanceof TreeBudgetError)) throw e;
      out.problems.push({ file: display, line: yaml.firstLine, document: yaml.index, code: 'yaml-limit-aliases', severity: 'error', message: e.message });
    }
  }
  return documents;
}

/** The environment first, then the `.env` beside the compose file, as compose looks them up. */
async function composeVariables(dir: string | undefined, ctx: ReadContext): Promise<Variables> {
  const fromEnv: Variables = (name) => ctx.env[name];
  if (dir === undefined) return fromEnv;
  let text: string;
  try {
    const fh = await open(join(dir, '.env'), 'r');
    try {
      if ((await fh.stat()).size > MAX_DOTENV_BYTES) return fromEnv;
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return fromEnv; // no .env: the environment alone
  }
  const dotenv = parseDotEnv(text, fromEnv);
  return (name) => ctx.env[name] ?? dotenv.get(name);
}
