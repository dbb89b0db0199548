/** Options and reporting shared by every command that writes an archive. */
import { Option, type Command } from 'commander';
import { invalid, usage } from '../errors.js';
import { openSource, type ArchiveSource, type OpenOptions } from '../formats/source.js';
import type { CopyReport, LayerPolicy } from '../ops/copy.js';
import type { Plan } from '../ops/plan.js';
import { estimateSize, refuseOverwritingInput, resolveOutput, writePlan, type ResolvedOutput } from '../ops/write.js';
import { progressFor } from './progress.js';
import { isPlatformSpec, parsePlatform, type Platform } from '../model/oci.js';
import { manifestPathOf, parseSize, type TransferManifest } from '../io/volumes.js';
import type { PushOptions } from '../formats/registry/registry-sink.js';
import type { PushedRepository } from '../ops/push.js';
import type { Exclusion } from '../model/delta.js';
import { readExclusion } from '../ops/inventory.js';
import { checkSigningKey, signManifest } from '../ops/signing.js';
import { familiarName } from '../model/reference.js';
import { humanSize, short, sizeIn } from './format.js';
import { printJson } from './io.js';
import { collect, type CommandContext } from './context.js';
import { ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL } from '../io/zstd-encoder.js';

export interface WriteFlags {
  output?: string;
  format?: string;
  compress?: string;
  layers?: LayerPolicy;
  zstdLevel?: string;
  image: string[];
  platform?: string;
  allPlatforms?: boolean;
  json?: boolean;
  spaceCheck?: boolean;
  volumeSize?: string;
  chunkSize?: string;
  excludeFrom?: string;
  deltaDocker?: boolean;
  parity?: string;
  sign?: string;
  loadableVolumes?: boolean;
}

export function addSelectOptions(cmd: Command): Command {
  return cmd
    .option('--image <ref>', 'only this image: name, image ID prefix or digest (repeatable)', collect, [])
    .option('--platform <os/arch[/variant]>', 'only this platform of multi-platform images')
    .option('--all-platforms', 'keep every platform (the default)');
}

/**
 * `--layers`, the same everywhere: every value it takes, its one default. auto is keep for a
 * registry or an OCI output; rename commands (tag -o ...) default to keep: a rename recompresses nothing.
 */
export function layersOption(defaultPolicy: LayerPolicy = 'auto'): Option {
  return new Option('--layers <policy>', 'layer compression: keep (as they are), gzip, zstd or uncompressed (recompressed), auto (keep, but zstd becomes gzip in docker-archive and hybrid, which docker 20.10 cannot read)')
    .choices(['auto', 'keep', 'gzip', 'zstd', 'uncompressed'])
    .default(defaultPolicy);
}

export function addOutputOptions(cmd: Command, required = true, { compress = true } = {}): Command {
  const where = 'output file, DIR/ for an OCI layout, store:, docker://REF, docker://REGISTRY[/PREFIX]/, or - for standard output';
  const o = required ? cmd.requiredOption('-o, --output <path>', where) : cmd.option('-o, --output <path>', `write the images here: ${where} (default: the local store)`);
  o.addOption(new Option('--format <format>', 'output format').choices(['hybrid', 'docker-archive', 'oci-archive', 'oci-layout']));
  if (compress) o.option('--compress <none|gzip|zstd>', 'wrap the output (-o x.tar.gz implies gzip, x.tar.zst zstd)');
  return o
    .addOption(layersOption())
    .option('--zstd-level <n>', `zstd level for --layers zstd and --compress zstd, ${ZSTD_MIN_LEVEL}-${ZSTD_MAX_LEVEL} (default: 3)`)
    .option('--json', 'print a JSON report on standard output')
    .option('--no-space-check', 'do not check the free space of the destination first')
    .option('--volume-size <size>', 'split into FILE.001, FILE.002, ... of this size (1G, 3900M, fat32...) with FILE.imgpack.json')
    .option('--chunk-size <size>', 'to a registry: upload blobs bigger than this in chunks of this size (default: whole)');
}

/** Push settings from the flags of a command that may write to a registry. */
export function pushOptionsOf(flags: { chunkSize?: string }): PushOptions {
  return flags.chunkSize ? { chunkSize: parseSize(flags.chunkSize) } : {};
}

/** Options of the commands that make a bundle to carry across (save, convert, merge). */
export function addTransferOptions(cmd: Command): Command {
  return cmd
    .option('--exclude-from <inventory>', 'a delta: leave out every layer blob the inventory (imgpack inventory) lists')
    .option('--delta-docker', 'with --exclude-from: leave out the layers by chain ID, as docker load skips them (docker-archive or hybrid; classic docker engines, not the containerd store)')
    .option('--parity <n>', 'with --volume-size: add N parity volumes FILE.p01... that can rebuild any N lost or damaged volumes')
    .option('--loadable-volumes', 'with --volume-size: each volume a complete archive of whole images (docker load -i FILE.002 works alone), not a byte split')
    .option('--sign <key>', 'sign the transfer manifest with this private key (imgpack key generate): FILE.imgpack.json.sig');
}

export function zstdLevelOf(flags: { zstdLevel?: string }): number | undefined {
  if (flags.zstdLevel === undefined) return undefined;
  const n = Number(flags.zstdLevel);
  if (!Number.isInteger(n) || n < ZSTD_MIN_LEVEL || n > ZSTD_MAX_LEVEL) throw usage('usage', `--zstd-level is a whole number from ${ZSTD_MIN_LEVEL} to ${ZSTD_MAX_LEVEL}`, flags.zstdLevel);
  return n;
}

export function platformOf(flags: WriteFlags): Platform | undefined {
  if (flags.platform && flags.allPlatforms) throw usage('usage', '--platform and --all-platforms exclude each other');
  if (!flags.platform) return undefined;
  if (!isPlatformSpec(flags.platform)) throw usage('bad-platform', 'a platform is os/arch[/variant], e.g. linux/arm64', flags.platform);
  return parsePlatform(flags.platform);
}

/** Opens every source; closes them all when `work` ends, however it ends. */
export async function withSources<T>(specs: string[], work: (sources: ArchiveSource[]) => Promise<T>, ctx?: CommandContext, opts: { platform?: Platform; referrers?: OpenOptions['referrers'] } = {}): Promise<T> {
  if (specs.filter((s) => s === '-').length > 1) throw usage('usage', 'standard input can be read only once');
  const sources: ArchiveSource[] = [];
  let failed = true;
  try {
    for (const s of specs) {
      // Reading a pipe has no known size: a spinner; a pull shows its bytes. On a terminal only.
      const progress = ctx && (s === '-' || s.startsWith('docker://')) ? progressFor(ctx, s === '-' ? '' : `pulling ${s.slice('docker://'.length)}`, 0) : undefined;
      if (s === '-') await progress?.phase('reading standard input');
      try {
        sources.push(await openSource(s, { platform: opts.platform, referrers: opts.referrers, onProgress: (e) => progress?.update(e.bytes, e.current, e.total) }));
      } finally {
        progress?.done();
      }
    }
    const result = await work(sources);
    failed = false;
    return result;
  } finally {
    // After a failure, what a source keeps for a rerun (a pull's downloads) stays.
    for (const s of sources) await s.close(failed);
  }
}

export async function runWrite(ctx: CommandContext, plan: Plan, out: ResolvedOutput, sources: ArchiveSource[], flags: WriteFlags, extra: Record<string, unknown> = {}): Promise<CopyReport> {
  if (flags.json && out.target === '-') throw usage('usage', '--json needs standard output, which -o - already uses');
  refuseOverwritingInput(out.target, sources);
  if (!plan.roots.some((r) => r.node.kind !== 'artifact')) {
    // "nothing to write" hides why: a damaged or hostile source yields no readable image.
    const bad = sources.find((s) => s.catalog.findings.problems.length > 0);
    const p = bad?.catalog.findings.problems[0];
    if (bad && p) throw invalid('no-readable-image', `${bad.display} has no readable image (${bad.catalog.findings.problems.length} problem${bad.catalog.findings.problems.length === 1 ? '' : 's'}; run imgpack verify). First: ${p.message}`, p.subject);
  }
  const exclude = exclusionOf(flags, out);
  if (flags.sign) checkSigningKey(flags.sign); // before writing anything
  const progress = progressFor(ctx, `writing ${out.target === '-' ? 'to standard output' : out.target}`, estimateSize(plan));
  let report;
  try {
    report = await writePlan(plan, out, { layers: flags.layers, zstdLevel: zstdLevelOf(flags), platform: platformOf(flags), spaceCheck: flags.spaceCheck, exclude, push: pushOptionsOf(flags), onProgress: (e) => progress.update(e.bytes, e.current) });
  } finally {
    progress.done();
  }
  if (flags.sign) {
    const signed = signManifest(manifestPathOf(out.target), flags.sign);
    if (!ctx.io.quiet && !ctx.io.json) ctx.io.err(`Signed ${out.target}.imgpack.json with key ${signed.keyId}: ${signed.signature}`);
  }
  reportWrite(ctx, report, out, extra);
  return report;
}

function exclusionOf(flags: WriteFlags, out: ResolvedOutput): Exclusion | undefined {
  if (flags.deltaDocker && !flags.excludeFrom) throw usage('usage', '--delta-docker needs --exclude-from INVENTORY');
  if (flags.deltaDocker && out.format !== 'docker-archive' && out.format !== 'hybrid') throw usage('usage', '--delta-docker is for docker load: use --format docker-archive or hybrid', out.format);
  return flags.excludeFrom ? readExclusion(flags.excludeFrom, flags.deltaDocker ? 'chain' : 'blob') : undefined;
}

export function reportWrite(ctx: CommandContext, report: CopyReport & { transfer?: TransferManifest; pushed?: PushedRepository[] }, out: ResolvedOutput, extra: Record<string, unknown> = {}): void {
  for (const c of report.platformChoices) {
    if (!ctx.io.quiet) ctx.io.err(`${familiarName(c.name)}: ${out.format === 'hybrid' ? "manifest.json's" : 'the'} image is the ${c.platform} one (${short(c.image)}); use --platform to choose`);
  }
  for (const w of report.warnings ?? []) {
    if (!ctx.io.quiet) ctx.io.err(`warning: ${w}`);
  }
  for (const m of report.changedManifests) {
    if (!ctx.io.quiet) ctx.io.err(`note: manifest ${short(m.from)} is now ${short(m.to)} (${m.reason}): pins like image@${m.from.slice(0, 19)}... no longer match`);
  }
  if (ctx.io.json) {
    printJson(ctx.io, { output: out.target, format: out.format, compression: out.compress, ...extra, ...report });
    return;
  }
  if (report.pushed) {
    printPushed(ctx, report.pushed);
    return;
  }
  if (!ctx.io.quiet) {
    const where = extra.inPlace ? `${extra.inPlace} in place` : out.target === '-' ? 'standard output' : out.target;
    if (report.transfer) {
      const t = report.transfer;
      ctx.io.err(`${t.volumes.length} volume${t.volumes.length === 1 ? '' : 's'}: ${t.volumes.map((v) => `${v.name} (${out.volumeSize ? sizeIn(v.size, out.volumeUnit) : humanSize(v.size)})`).join(', ')}; manifest ${out.target}.imgpack.json`);
    }
    if (report.blobsOmitted !== undefined || extra.delta) ctx.io.err(`Delta: ${report.blobsOmitted ?? 0} blob${report.blobsOmitted === 1 ? '' : 's'} (${humanSize(report.bytesOmitted ?? 0)}) left out, as the inventory lists them`);
    ctx.io.err(`${extra.inPlace ? 'Rewrote' : 'Wrote'} ${where} (${out.format}${out.compress !== 'none' ? ', ' + out.compress : ''}): ${report.images} image${report.images === 1 ? '' : 's'}, ${report.blobsWritten} blob${report.blobsWritten === 1 ? '' : 's'}, ${humanSize(report.bytesWritten)}${report.bytesDeduplicated ? `; deduplication saved ${humanSize(report.bytesDeduplicated)}` : ''}`);
  }
}

export function outputOf(flags: WriteFlags): ResolvedOutput {
  if (flags.sign && flags.loadableVolumes) throw usage('usage', '--sign does not go with --loadable-volumes yet: sign a byte-split set', flags.output);
  return resolveOutput(flags.output ?? '', { format: flags.format, compress: flags.compress, volumeSize: flags.volumeSize, parity: flags.parity, transferManifest: !!flags.sign, loadableVolumes: flags.loadableVolumes });
}

/** One line per name pushed, on standard output, like docker push's last line. */
export function printPushed(ctx: CommandContext, pushed: PushedRepository[]): void {
  for (const r of pushed) {
    const how = [`${r.uploaded} blob${r.uploaded === 1 ? '' : 's'} uploaded (${humanSize(r.bytesUploaded)})`, r.mounted ? `${r.mounted} mounted` : '', `${r.present} already there`].filter(Boolean).join(', ');
    for (const n of r.names) ctx.io.out(`Pushed: ${n} (${how})`);
  }
}

/** --no-referrers and --referrers-type: what comes along with images read from a registry. */
export function addReferrerOptions(cmd: Command): Command {
  return cmd
    .option('--no-referrers', 'leave the signatures, attestations, SBOMs and other referrers of the images in the registry')
    .option('--referrers-type <media-type>', 'only referrers of this artifact type (repeatable; also matches a config or layer media type, e.g. application/vnd.dev.cosign.simplesigning.v1+json for cosign signatures)', collect, []);
}

export function referrersOf(flags: { referrers?: boolean; referrersType?: string[] }): OpenOptions['referrers'] {
  return flags.referrers === false ? false : { types: flags.referrersType?.length ? flags.referrersType : undefined };
}
