/**
 * Process-wide registry settings: the CLI's global --ca-file, --insecure and --plain-http. Kept
 * apart from the transport so that setting them loads nothing heavy (start-up time).
 */
export interface RegistrySettings {
  caFiles: string[];
  /** Do not verify TLS certificates (docker's insecure-registries). */
  insecure: boolean;
  /** Speak plain HTTP to every registry. */
  plainHttp: boolean;
}

const settings: RegistrySettings = { caFiles: [], insecure: false, plainHttp: false };
let generation = 0;

export function configureRegistries(change: Partial<RegistrySettings>): void {
  Object.assign(settings, change);
  generation++;
}

export function registrySettings(): Readonly<RegistrySettings> {
  return { ...settings, plainHttp: settings.plainHttp || process.env.IMGPACK_PLAIN_HTTP === '1' };
}

/** Changes whenever the settings do: connection pools built for older settings are dropped. */
export function settingsGeneration(): number {
  return generation;
}
