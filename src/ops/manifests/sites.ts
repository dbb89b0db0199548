/** What the manifest readers report: each place an image is named, and what went wrong. */
import { stat } from 'node:fs/promises';

/** Where a reference was found (find-images' public `locations[]`). */
export interface FoundLocation {
  /** The file as reached from the path given (`-` for standard input). */
  file: string;
  /** 1-based position of the YAML document in the file. */
  document: number;
  /** 1-based line of the image's value. */
  line?: number;
  /** The Kubernetes kind, or `service` for a compose service. */
  kind?: string;
  /** metadata.name, or the compose service's name. */
  name?: string;
  /** The container's name (the volume's, for an image volume). */
  container?: string;
  /** containers, initContainers, ephemeralContainers, volumes; image for compose. */
  field?: string;
  /** As written in the file, when that differs from the reference (kustomize's images:, compose variables). */
  written?: string;
  /** The kustomization whose `images:` changed the reference. */
  kustomization?: string;
}

export interface ImageSite extends FoundLocation {
  /** The reference as it stands: as written, or after kustomize's `images:` / compose's variables. */
  image: string;
  /** Exactly as written in the file. */
  written: string;
  /**
   * How many times each `images:` entry of a kustomization is applied here: kustomize runs two
   * filters, a legacy one (containers and initContainers anywhere) and one over its field specs
   * (spec/ and spec/template/spec/ containers, initContainers, image volumes); both reach a
   * Deployment's containers (a tagSuffix is added twice, as kubectl kustomize does), one a
   * CronJob's, none an ephemeral container.
   */
  kustomizePasses?: number;
  /** Not a usable reference (an unset variable, a template): listed as written, never normalised. */
  unresolved?: boolean;
}

export type Severity = 'error' | 'warning';

export interface SiteProblem {
  file: string;
  line?: number;
  document?: number;
  message: string;
  code: string;
  severity: Severity;
}

export interface Findings {
  sites: ImageSite[];
  problems: SiteProblem[];
}

export function emptyFindings(): Findings {
  return { sites: [], problems: [] };
}

/** What a path is (following symbolic links), or undefined when there is nothing there. */
export async function pathKind(path: string): Promise<'file' | 'directory' | 'other' | undefined> {
  try {
    const st = await stat(path);
    return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other';
  } catch {
    return undefined;
  }
}
