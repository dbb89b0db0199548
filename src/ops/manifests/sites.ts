/** What the manifest readers report: each place an image is named, and what went wrong. */

export interface ImageSite {
  /** The reference as it stands: as written, or after kustomize's `images:` / compose's variables. */
  image: string;
  /** Exactly as written in the file. */
  written: string;
  file: string;
  document: number;
  line?: number;
  kind?: string;
  name?: string;
  container?: string;
  /** containers, initContainers, ephemeralContainers, volumes (image volumes), image (compose). */
  field?: string;
  /** The kustomization whose `images:` changed it. */
  kustomization?: string;
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
