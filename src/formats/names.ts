/** Image names as the formats store them, turned into full references (CLI.md). */
import { Annotation } from '../model/oci.js';
import { normalizeName, refNameAsReference } from '../model/reference.js';

/** Names from an index.json descriptor's annotations: full references and bare ref names apart. */
export function namesFromAnnotations(annotations: Record<string, string> | undefined): { names: string[]; refNames: string[] } {
  const names: string[] = [];
  const refNames: string[] = [];
  if (!annotations) return { names, refNames };
  const containerd = annotations[Annotation.containerdName];
  if (typeof containerd === 'string') {
    const full = normalizeName(containerd);
    if (full) names.push(full);
  }
  const refName = annotations[Annotation.refName];
  if (typeof refName === 'string' && refName !== '') {
    const full = refNameAsReference(refName);
    if (full) {
      if (!names.includes(full)) names.push(full);
    } else if (!names.some((n) => n.endsWith(':' + refName))) {
      // Docker 25+ writes the tag alone beside the full name in io.containerd.image.name.
      refNames.push(refName);
    }
  }
  return { names, refNames };
}
