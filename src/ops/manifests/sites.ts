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
  /** kustomize's images transformer reaches this place (it skips ephemeral containers and CronJob volumes). */
  kustomizable?: boolean;
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
