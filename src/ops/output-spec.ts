/** What an output is: its target, format, outer compression and volume settings (resolveOutput in write.ts makes one). */
import type { OutputFormat } from '../formats/sinks/sink.js';
import type { SizeUnit } from '../io/volumes.js';

export const OUTPUT_FORMATS: OutputFormat[] = ['hybrid', 'docker-archive', 'oci-archive', 'oci-layout'];
export type OuterCompression = 'none' | 'gzip' | 'zstd';

export interface OutputOptions {
  format?: string;
  compress?: string;
  volumeSize?: string;
  /** Parity volumes to add to a volume set. */
  parity?: string;
  /** Write FILE.imgpack.json beside a single-file output too (signing needs one). */
  transferManifest?: boolean;
  /** Volumes that are each a complete archive (docker load takes each alone). */
  loadableVolumes?: boolean;
}

export interface ResolvedOutput {
  target: string;
  format: OutputFormat | 'registry';
  compress: OuterCompression;
  /** Split into FILE.001, FILE.002, ... of at most this many bytes, with FILE.imgpack.json. */
  volumeSize?: number;
  /** The binary unit --volume-size was given in, for reports. */
  volumeUnit?: SizeUnit;
  /** Parity volumes FILE.p01... (with volumeSize). */
  parity?: number;
  /** A single file gets FILE.imgpack.json too. */
  transferManifest?: boolean;
  /** Each volume a complete archive of some of the images, not a byte split. */
  loadable?: boolean;
  /** The lock of the image set written (its sha256 goes into the transfer manifest). */
  lock?: { sha256: string; images: number };
}

