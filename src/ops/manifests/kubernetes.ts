/**
 * Images of Kubernetes objects: the containers, initContainers and ephemeralContainers (and image
 * volumes) of every pod spec a workload kind holds, in one document or a `List`.
 */
import type { Node } from 'yaml';
import type { YamlTree } from './yaml-tree.js';
import type { Findings } from './sites.js';
import { TEMPLATE_HINT, hasTemplate } from './templates.js';

/** Where each workload kind keeps its pod spec. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  Pod: ['spec'],
  PodTemplate: ['template', 'spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

const CONTAINER_FIELDS = ['initContainers', 'containers', 'ephemeralContainers'];
/** Lists hold lists rarely; more than this is not a manifest. */
const MAX_LIST_NESTING = 8;

/** A document is a Kubernetes object when it is a mapping with a `kind`. */
export function isKubernetesObject(tree: YamlTree, node: Node | undefined): boolean {
  return tree.string(tree.get(node, 'kind')) !== undefined;
}

export function kubernetesImages(tree: YamlTree, node: Node | undefined, file: string, out: Findings, nesting = 0): void {
  const kind = tree.string(tree.get(node, 'kind'));
  if (kind === undefined) return;
  const items = tree.get(node, 'items');
  if ((kind === 'List' || kind.endsWith('List')) && items !== undefined) {
    if (nesting >= MAX_LIST_NESTING) {
      out.problems.push({ file, line: tree.line(node), document: tree.yaml.index, code: 'manifest-list-depth', severity: 'error', message: `Lists nested more than ${MAX_LIST_NESTING} deep` });
      return;
    }
    for (const item of tree.items(items)) kubernetesImages(tree, item, file, out, nesting + 1);
    return;
  }
  const path = POD_SPEC_PATHS[kind];
  if (!path) return;
  let spec: Node | undefined = node;
  for (const key of path) spec = tree.get(spec, key);
  if (spec === undefined) return;
  const name = tree.string(tree.get(tree.get(node, 'metadata'), 'name'));
  // kustomize's two image filters (see ImageSite.kustomizePasses): its field specs reach pod and
  // template specs (spec/..., spec/template/spec/...), not a CronJob's job template.
  const fieldSpecs = kind === 'CronJob' ? 0 : 1;
  for (const field of CONTAINER_FIELDS) {
    for (const container of tree.items(tree.get(spec, field))) {
      const image = tree.get(container, 'image');
      if (image === undefined) continue;
      const site = { file, document: tree.yaml.index, line: tree.line(image), kind, name, container: tree.string(tree.get(container, 'name')), field };
      addImage(tree, image, { ...site, kustomizePasses: field === 'ephemeralContainers' ? 0 : 1 + fieldSpecs }, out);
    }
  }
  for (const volume of tree.items(tree.get(spec, 'volumes'))) {
    const reference = tree.get(tree.get(volume, 'image'), 'reference');
    if (reference === undefined) continue;
    const site = { file, document: tree.yaml.index, line: tree.line(reference), kind, name, container: tree.string(tree.get(volume, 'name')), field: 'volumes' };
    addImage(tree, reference, { ...site, kustomizePasses: fieldSpecs }, out);
  }
}

function addImage(tree: YamlTree, node: Node, site: Omit<Findings['sites'][number], 'image' | 'written'>, out: Findings): void {
  const value = tree.string(node);
  if (value === undefined) {
    if (tree.resolve(node) !== undefined && !isNull(tree, node)) {
      out.problems.push({ file: site.file, line: site.line, document: site.document, code: 'manifest-image-not-string', severity: 'error', message: `the image of ${describe(site)} is not a string` });
    }
    return;
  }
  if (value.trim() === '') return;
  if (hasTemplate(value)) {
    out.problems.push({ file: site.file, line: site.line, document: site.document, code: 'template-unrendered', severity: 'error', message: `unrendered template in the image of ${describe(site)}: ${TEMPLATE_HINT}` });
    out.sites.push({ ...site, image: value, written: value, unresolved: true });
    return;
  }
  out.sites.push({ ...site, image: value, written: value });
}

function isNull(tree: YamlTree, node: Node): boolean {
  const n = tree.resolve(node) as { value?: unknown } | undefined;
  return n !== undefined && 'value' in n && n.value === null;
}

export function describe(site: { kind?: string; name?: string; container?: string }): string {
  const owner = [site.kind, site.name].filter(Boolean).join(' ');
  return site.container ? `container ${site.container} of ${owner || 'an object'}` : owner || 'an object';
}
