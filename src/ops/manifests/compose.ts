/**
 * Images of compose files (`services.*.image`), with compose's variable interpolation:
 * `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
 * `${VAR:+replacement}`, `${VAR+replacement}`, `$$` for a `$`, defaults that nest `${...}`.
 * Values come from the environment, then from the `.env` file beside the compose file (the
 * environment wins, as in compose). A variable with no value makes compose warn and use "";
 * here the reference is listed as written and the variable reported.
 */
import type { Node } from 'yaml';
import type { YamlTree } from './yaml-tree.js';
import type { Findings } from './sites.js';

export type Variables = (name: string) => string | undefined;

/** A compose file is a mapping with a `services` mapping and no Kubernetes `kind`/`apiVersion`. */
export function isComposeFile(tree: YamlTree, root: Node | undefined): boolean {
  if (tree.get(root, 'kind') !== undefined || tree.get(root, 'apiVersion') !== undefined) return false;
  return tree.entries(tree.get(root, 'services')).length > 0;
}

export function composeImages(tree: YamlTree, root: Node | undefined, file: string, variables: Variables, out: Findings): void {
  const unset = new Map<string, { line?: number; count: number }>();
  const services = tree.get(root, 'services');
  const include = tree.get(root, 'include');
  if (include !== undefined) {
    out.problems.push({ file, line: tree.line(include), document: tree.yaml.index, code: 'compose-not-followed', severity: 'warning', message: 'include: is not followed: give the included files too' });
  }
  for (const [service, definition] of tree.entries(services)) {
    const node = imageOf(tree, services, service, definition, file, out);
    if (node === undefined) continue; // built, not pulled
    const line = tree.line(node);
    const written = tree.string(node);
    const site = { file, document: tree.yaml.index, line, kind: 'service', name: service, field: 'image' };
    if (written === undefined) {
      if ((tree.resolve(node) as { value?: unknown } | undefined)?.value !== null) {
        out.problems.push({ file, line, document: site.document, code: 'compose-image-not-string', severity: 'error', message: `the image of service ${service} is not a string` });
      }
      continue;
    }
    const result = interpolate(written, variables);
    if ('error' in result) {
      out.problems.push({ file, line, document: site.document, code: 'compose-interpolation', severity: 'error', message: `the image of service ${service}: ${result.error}` });
      out.sites.push({ ...site, image: written, written, unresolved: true });
    } else if (result.unset.length > 0) {
      for (const name of result.unset) {
        const u = unset.get(name) ?? { line, count: 0 };
        u.count++;
        unset.set(name, u);
      }
      out.sites.push({ ...site, image: written, written, unresolved: true });
    } else if (result.value.trim() !== '') {
      out.sites.push({ ...site, image: result.value, written });
    }
  }
  for (const [name, u] of unset) {
    out.problems.push({
      file, line: u.line, document: tree.yaml.index, code: 'compose-variable-unset', severity: 'warning',
      message: `variable ${name} is not set (neither in the environment nor in .env): ${u.count} image reference${u.count === 1 ? '' : 's'} listed as written`,
    });
  }
}

/**
 * A service's `image`, or the one it inherits through `extends` from a service of the same file
 * (`extends: name` or `extends: {service: name}`); `extends` from another file is reported.
 */
function imageOf(tree: YamlTree, services: Node | undefined, service: string, definition: Node | undefined, file: string, out: Findings): Node | undefined {
  const seen = new Set([service]);
  let current = definition;
  for (;;) {
    const image = tree.get(current, 'image');
    if (image !== undefined) return image;
    const ext = tree.get(current, 'extends');
    if (ext === undefined) return undefined;
    if (tree.get(ext, 'file') !== undefined) {
      out.problems.push({ file, line: tree.line(ext), document: tree.yaml.index, code: 'compose-not-followed', severity: 'warning', message: `service ${service} extends a service of another file, which is not followed: give that file too` });
      return undefined;
    }
    const base = tree.string(ext) ?? tree.string(tree.get(ext, 'service'));
    if (base === undefined || seen.has(base)) return undefined;
    seen.add(base);
    current = tree.get(services, base);
  }
}

export type Interpolated = { value: string; unset: string[] } | { error: string };

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/;

/** compose's interpolation of one string. */
export function interpolate(input: string, variables: Variables): Interpolated {
  const unset: string[] = [];
  let out = '';
  let i = 0;
  while (i < input.length) {
    const dollar = input.indexOf('$', i);
    if (dollar < 0) {
      out += input.slice(i);
      break;
    }
    out += input.slice(i, dollar);
    const next = input[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '{') {
      const end = closingBrace(input, dollar + 2);
      if (end < 0) return { error: `invalid interpolation format "${input.slice(dollar)}": no closing brace` };
      const r = substitute(input.slice(dollar + 2, end), variables);
      if ('error' in r) return r;
      out += r.value;
      unset.push(...r.unset);
      i = end + 1;
    } else {
      const name = NAME.exec(input.slice(dollar + 1))?.[0];
      if (!name) return { error: `invalid interpolation format "${input.slice(dollar)}": a $ must be followed by a name, {, or $` };
      const value = variables(name);
      if (value === undefined) unset.push(name);
      out += value ?? '';
      i = dollar + 1 + name.length;
    }
  }
  return { value: out, unset: [...new Set(unset)] };
}

/** The body of `${...}`: NAME, or NAME followed by one of :- - :? ? :+ + and a word. */
function substitute(body: string, variables: Variables): Interpolated {
  const name = NAME.exec(body)?.[0];
  if (!name) return { error: `invalid interpolation format "\${${body}}"` };
  const rest = body.slice(name.length);
  const value = variables(name);
  if (rest === '') return value === undefined ? { value: '', unset: [name] } : { value, unset: [] };
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest)?.[0];
  if (!op) return { error: `invalid interpolation format "\${${body}}"` };
  const word = () => interpolate(rest.slice(op.length), variables);
  const empty = value === undefined || value === '';
  switch (op) {
    case ':-': return empty ? word() : { value: value!, unset: [] };
    case '-': return value === undefined ? word() : { value, unset: [] };
    case ':+': return empty ? { value: '', unset: [] } : word();
    case '+': return value === undefined ? { value: '', unset: [] } : word();
    default: {
      const required = op === ':?' ? empty : value === undefined;
      if (!required) return { value: value!, unset: [] };
      const message = word();
      return { error: `required variable ${name} is missing a value${'value' in message && message.value ? `: ${message.value}` : ''}` };
    }
  }
}

/** The index of the `}` closing a `${` whose body starts at `from`, counting nested `${`. */
function closingBrace(s: string, from: number): number {
  let depth = 1;
  for (let i = from; i < s.length; i++) {
    if (s[i] === '$' && s[i + 1] === '{') {
      depth++;
      i++;
    } else if (s[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/**
 * A `.env` file as compose reads it: `KEY=VALUE` lines (`export ` allowed, `KEY: VALUE` too),
 * `#` comments, single quotes literal, double quotes with escapes and interpolation, unquoted
 * values trimmed, cut at ` #`, and interpolated; each value may use the ones before it.
 */
export function parseDotEnv(text: string, outer: Variables): Map<string, string> {
  const values = new Map<string, string>();
  const lookup: Variables = (name) => outer(name) ?? values.get(name);
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let n = 0; n < lines.length; n++) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s?(.*)$/.exec(lines[n]);
    if (!m) continue;
    const key = m[1];
    let raw = m[2].replace(/^\s+/, '');
    const quote = raw[0];
    if (quote === "'" || quote === '"') {
      // A quoted value may run over several lines until its closing quote.
      let body = raw.slice(1);
      let close = findClosingQuote(body, quote);
      while (close < 0 && n + 1 < lines.length) {
        body += '\n' + lines[++n];
        close = findClosingQuote(body, quote);
      }
      body = close < 0 ? body : body.slice(0, close);
      if (quote === "'") {
        values.set(key, body);
      } else {
        // Escapes first; an escaped \$ becomes $$ so that interpolation leaves a literal $.
        const unescaped = body.replace(/\\([nrt"\\$])/g, (_m, c: string) => ({ n: '\n', r: '\r', t: '\t', $: '$$' } as Record<string, string>)[c] ?? c);
        const r = interpolate(unescaped, lookup);
        values.set(key, 'value' in r ? r.value : unescaped);
      }
      continue;
    }
    const hash = raw.search(/\s#/);
    if (hash >= 0) raw = raw.slice(0, hash);
    if (raw.startsWith('#')) raw = '';
    raw = raw.trim();
    const r = interpolate(raw, lookup);
    values.set(key, 'value' in r ? r.value : raw);
  }
  return values;
}

function findClosingQuote(s: string, quote: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && quote === '"') i++;
    else if (s[i] === quote) return i;
  }
  return -1;
}
