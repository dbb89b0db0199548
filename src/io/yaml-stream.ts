/**
 * Reading YAML streams that may be hostile (manifests from anywhere, set files) with the `yaml`
 * library, inside limits it does not have itself: a document size cap, a nesting cap checked on
 * the token stream BEFORE the recursive composer sees the document (100k levels of `[` overflow
 * its stack or exhaust memory), and the library's own maxAliasCount against alias bombs.
 * Each document fails alone, with its line; nothing here throws on bad input.
 */
import { Composer, Lexer, LineCounter, Parser, visit, type Document, type Node } from 'yaml';

/** Kubernetes stores objects of at most 1.5 MiB (etcd); twice that leaves room for YAML's indentation. */
export const MAX_YAML_DOCUMENT_BYTES = 3 * 1024 * 1024;
/** Real manifests nest a few dozen levels (CRD schemas are the deepest); the composer recurses per level. */
export const MAX_YAML_DEPTH = 256;
/** yaml's guard against exponential alias expansion (its default is 100: too few for big compose files). */
export const MAX_YAML_ALIAS_COUNT = 1000;

export interface YamlDocument {
  doc: Document.Parsed;
  /** 1-based position of the document in the stream. */
  index: number;
  /** 1-based line of the document's first character in the whole stream. */
  firstLine: number;
  /** The line (1-based, in the whole stream) of an offset inside this document's source. */
  lineOf(offset: number): number;
  /** The source text of the document (offsets of its nodes index into it). */
  source: string;
}

export interface YamlProblem {
  code: string;
  message: string;
  line: number;
  document: number;
  /** The failed document's text and first line, for callers that can say better why it failed. */
  source?: string;
  firstLine?: number;
}

export interface YamlStream {
  documents: YamlDocument[];
  problems: YamlProblem[];
}

/** Text decoded from bytes, or the reason it is not text. */
export function decodeYamlText(bytes: Buffer): { text: string } | { code: string; message: string; line: number } {
  const nul = bytes.indexOf(0);
  if (nul >= 0) return { code: 'yaml-binary', message: 'binary data, not YAML (a NUL byte)', line: lineAt(bytes, nul) };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    return { code: 'yaml-binary', message: 'binary data, not YAML (not UTF-8 text)', line: lineAt(bytes, bad) };
  }
  return { text: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text };
}

export type YamlItem = { document: YamlDocument } | { problem: YamlProblem };

/**
 * The documents of a stream, one at a time (a 60 MiB helm output is never held parsed at once):
 * split at its `---` lines, each parsed within the limits, or a problem in its place.
 */
export function* yamlDocuments(text: string): Generator<YamlItem> {
  let index = 0;
  for (const chunk of splitDocuments(text)) {
    if (!chunk.marked && onlyComments(chunk.text)) continue; // comments before the first ---
    if (Buffer.byteLength(chunk.text) > MAX_YAML_DOCUMENT_BYTES) {
      index++;
      yield {
        problem: {
          code: 'yaml-limit-size',
          message: `YAML document ${index} is larger than ${MAX_YAML_DOCUMENT_BYTES / 1024 / 1024} MiB, the limit for one document`,
          line: chunk.firstLine,
          document: index,
        },
      };
      continue;
    }
    for (const item of parseChunk(chunk, index)) {
      index = 'document' in item ? item.document.index : item.problem.document;
      yield item;
    }
  }
}

/** Every document and problem of a small stream (a set file, a kustomization). */
export function parseYamlStream(text: string): YamlStream {
  const out: YamlStream = { documents: [], problems: [] };
  for (const item of yamlDocuments(text)) {
    if ('document' in item) out.documents.push(item.document);
    else out.problems.push(item.problem);
  }
  return out;
}

interface Chunk {
  text: string;
  firstLine: number;
  /** The chunk starts with a `---` line (an explicit document, even if empty). */
  marked: boolean;
}

/**
 * A line that starts with `---` followed by a space or the end of the line always starts a new
 * document, even inside a scalar (YAML forbids it in content at column 0), so splitting there
 * before parsing is exact; it lets the size limit apply before any parsing, and one broken
 * document leave the others readable.
 */
function* splitDocuments(text: string): Generator<Chunk> {
  const marker = /^---(?=[ \t\r\n]|$)/gm;
  let start = 0;
  let line = 1;
  let marked = false;
  for (let m = marker.exec(text); m; m = marker.exec(text)) {
    if (m.index === 0) {
      marked = true;
      continue;
    }
    const chunk = text.slice(start, m.index);
    yield { text: chunk, firstLine: line, marked };
    line += countNewlines(chunk);
    start = m.index;
    marked = true;
  }
  yield { text: text.slice(start), firstLine: line, marked };
}

function parseChunk(chunk: Chunk, index: number): YamlItem[] {
  const lines = new LineCounter();
  const parser = new Parser(lines.addNewLine);
  const composer = new Composer({ merge: true, uniqueKeys: false, prettyErrors: false, strict: false });
  const docs: Document.Parsed[] = [];
  // An error at the very end of a document (an unclosed bracket) belongs to its last line, not the next `---`.
  const lastContent = Math.max(0, chunk.text.trimEnd().length - 1);
  const lineOf = (offset: number) => chunk.firstLine + lines.linePos(Math.min(offset, lastContent)).line - 1;
  lines.addNewLine(0);
  const depth = new DepthGauge();
  let offset = 0;
  for (const lexeme of new Lexer().lex(chunk.text)) {
    if (depth.feed(lexeme) > MAX_YAML_DEPTH) {
      return [{
        problem: {
          code: 'yaml-limit-depth',
          message: `YAML nested more than ${MAX_YAML_DEPTH} levels deep, the limit`,
          line: lineOf(Math.min(offset, chunk.text.length)),
          document: index + 1,
        },
      }];
    }
    if (!isControl(lexeme)) offset += lexeme.length;
    for (const token of parser.next(lexeme)) for (const doc of composer.next(token)) docs.push(doc);
  }
  for (const token of parser.end()) for (const doc of composer.next(token)) docs.push(doc);
  for (const doc of composer.end(false, chunk.text.length)) docs.push(doc);
  const aliases = chunk.text.includes('*'); // no `*`, no alias: nothing for the alias guard to do
  return docs.map((doc) => {
    index++;
    const problem = documentProblem(doc, lineOf, aliases);
    if (problem) return { problem: { ...problem, document: index, source: chunk.text, firstLine: chunk.firstLine } };
    return { document: { doc, index, firstLine: chunk.firstLine, lineOf, source: chunk.text } };
  });
}

/** The first error of a parsed document (syntax, or an alias bomb), or undefined. */
function documentProblem(doc: Document.Parsed, lineOf: (offset: number) => number, aliases: boolean): { code: string; message: string; line: number } | undefined {
  const error = doc.errors[0];
  if (error) return { code: 'yaml-invalid', message: `not valid YAML: ${oneLine(error.message)}`, line: lineOf(error.pos[0]) };
  if (!aliases) return undefined;
  try {
    doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT });
  } catch (e) {
    const message = oneLine((e as Error).message);
    let firstAlias: Node | undefined;
    visit(doc, { Alias: (_k, node) => { firstAlias = node; return visit.BREAK; } });
    const line = lineOf(firstAlias?.range?.[0] ?? doc.range[0]);
    if (/resource exhaustion/i.test(message)) {
      return { code: 'yaml-limit-aliases', message: `YAML aliases expand beyond the limit of ${MAX_YAML_ALIAS_COUNT} (an alias bomb?)`, line };
    }
    return { code: 'yaml-invalid', message: `not valid YAML: ${message}`, line };
  }
  return undefined;
}

/**
 * A conservative running measure of nesting from the lexer's tokens: open flow collections plus
 * the block collections still open (a stack of indentation columns; a sequence may sit at its
 * parent mapping's column). Works token by token, so a hostile document stops at the limit.
 */
class DepthGauge {
  private col = 0;
  private line = 0;
  private flow = 0;
  private block: { col: number; seq: boolean }[] = [];
  private nodeCol = -1;
  private nodeLine = -1;
  private scalarNext = false;

  feed(lexeme: string): number {
    if (isControl(lexeme)) {
      if (lexeme === '\x1f') this.scalarNext = true;
      return this.depth();
    }
    const startCol = this.col;
    const first = lexeme[0];
    if (this.scalarNext || first === '"' || first === "'" || first === '*' || first === '[' || first === '{') {
      this.nodeCol = startCol;
      this.nodeLine = this.line;
      this.scalarNext = false;
    }
    if (this.flow === 0) {
      if (lexeme === '-') this.open(startCol, true);
      else if (lexeme === '?') this.open(startCol, false);
      else if (lexeme === ':') this.open(this.nodeLine === this.line ? this.nodeCol : startCol, false);
    }
    if (lexeme === '[' || lexeme === '{') this.flow++;
    else if ((lexeme === ']' || lexeme === '}') && this.flow > 0) this.flow--;
    const nl = countNewlines(lexeme);
    if (nl > 0) {
      this.line += nl;
      this.col = lexeme.length - 1 - lexeme.lastIndexOf('\n');
    } else {
      this.col += lexeme.length;
    }
    return this.depth();
  }

  private open(col: number, seq: boolean): void {
    const b = this.block;
    while (b.length && (b[b.length - 1].col > col || (b[b.length - 1].col === col && b[b.length - 1].seq && !seq))) b.pop();
    const top = b[b.length - 1];
    if (!top || top.col < col || (top.col === col && seq && !top.seq)) b.push({ col, seq });
  }

  private depth(): number {
    return this.block.length + this.flow;
  }
}

/** The lexer's control tokens (document, scalar, flow-error markers) are not source text. */
function isControl(lexeme: string): boolean {
  return lexeme.length === 1 && (lexeme === '\x02' || lexeme === '\x18' || lexeme === '\x1f');
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

function oneLine(message: string): string {
  return message.split('\n')[0].replace(/\s+at line \d+, column \d+:?$/, '').trim();
}

function lineAt(bytes: Buffer, offset: number): number {
  let line = 1;
  for (let i = bytes.indexOf(10); i >= 0 && i < offset; i = bytes.indexOf(10, i + 1)) line++;
  return line;
}

/** Only blank lines and comments (what may precede a stream's first `---`). */
function onlyComments(text: string): boolean {
  return text.split('\n').every((l) => {
    const t = l.trim();
    return t === '' || t.startsWith('#');
  });
}

/** The offset of the first byte that does not belong to a well-formed UTF-8 sequence. */
function firstInvalidUtf8(bytes: Buffer): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (n === 0 || i + n > bytes.length) return i;
    for (let k = 1; k < n; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    i += n;
  }
  return bytes.length;
}
