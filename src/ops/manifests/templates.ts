/**
 * Helm templates that were not rendered. `{{` inside a string is normal in rendered output
 * (Prometheus rules, Go templates in ConfigMaps), so only a `{{` that YAML read as structure (a
 * flow mapping) or that broke the document counts, plus any image that still holds one.
 */
import { isScalar, visit } from 'yaml';
import type { YamlDocument } from '../../io/yaml-stream.js';

export const TEMPLATE_HINT = 'render it first (helm template CHART | imgpack find-images -)';

/** The line of the first `{{` of a document's text, if any (for documents that did not parse). */
export function firstTemplateLine(source: string, firstLine: number): number | undefined {
  const at = source.indexOf('{{');
  if (at < 0) return undefined;
  return firstLine + countNewlines(source, at);
}

/** The line of the first `{{` that YAML did not read as part of a string, if any. */
export function structuralTemplateLine(yaml: YamlDocument): number | undefined {
  const { source } = yaml;
  if (!source.includes('{{')) return undefined;
  const strings: [number, number][] = [];
  visit(yaml.doc, {
    Scalar: (_key, node) => {
      if (isScalar(node) && typeof node.value === 'string' && node.range) strings.push([node.range[0], node.range[1]]);
    },
  });
  strings.sort((a, b) => a[0] - b[0]);
  for (let at = source.indexOf('{{'); at >= 0; at = source.indexOf('{{', at + 2)) {
    if (insideAny(strings, at) || inComment(source, at)) continue;
    return yaml.firstLine + countNewlines(source, at);
  }
  return undefined;
}

export function hasTemplate(value: string): boolean {
  return value.includes('{{');
}

function insideAny(ranges: [number, number][], at: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid][0] <= at) lo = mid + 1;
    else hi = mid - 1;
  }
  // Scalars are leaves: their ranges never overlap, so only the last one starting before `at` can hold it.
  return hi >= 0 && at < ranges[hi][1];
}

function inComment(source: string, at: number): boolean {
  const lineStart = source.lastIndexOf('\n', at - 1) + 1;
  return /(^|\s)#/.test(source.slice(lineStart, at));
}

function countNewlines(s: string, end: number): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0 && i < end; i = s.indexOf('\n', i + 1)) n++;
  return n;
}
