/**
 * imgpack as a library: the same operations as the command line, returning plain data and
 * printing nothing. Errors are ImgpackError (code, message, subject, exitCode).
 *
 *   import { openSource, inspectSource, verifyPath, selectRoots, resolveOutput, writePlan } from 'imgpack';
 *   const src = await openSource('images.tar');
 *   const report = inspectSource(src);
 *   await writePlan({ roots: selectRoots(src, { images: ['busybox'] }) }, resolveOutput('busybox.tar', {}), {});
 *   await src.close();
 */
export { ImgpackError } from './errors.js';
export { openSource, ArchiveSource } from './formats/source.js';
export { inspectSource, type InspectReport, type ImageReport } from './ops/inspect.js';
export { verifyPath, verifySource, type VerifyReport } from './ops/verify.js';
export { rootsOf, selectRoots, mergeRoots, type Plan, type PlanRoot } from './ops/plan.js';
export { tagRoots, untagRoots, retagRoots, parsePrefixRule } from './ops/rename.js';
export { copy, type CopyOptions, type CopyReport, type LayerPolicy } from './ops/copy.js';
export { resolveOutput, writePlan, createSink, type ResolvedOutput } from './ops/write.js';
export { parseReference, normalizeName, familiarName, formatFull, type Reference } from './model/reference.js';
export { parseDigest, digestProblem, chainIds } from './model/digest.js';
export type { Catalog, ImageRecord, ArtifactRecord, IndexRecord, Problem, FormatName } from './model/catalog.js';
export type { Descriptor, Manifest, Index, ImageConfig, Platform } from './model/oci.js';
export { VERSION } from './version.js';
export { Store, storePath } from './formats/store/store.js';
export { loadIntoStore, listImages, removeImages, pruneStore, renameInStore, type ImageRow } from './ops/store-ops.js';
export { chunkFile, joinVolumes } from './ops/volumes-ops.js';
export { parseSize, findVolumeSet, checkVolumes, type TransferManifest } from './io/volumes.js';
export { startServe, parseListen, type ServeOptions, type RunningServer } from './serve/server.js';
export { pushPlan, pushTargetOf, type PushTarget, type PushReport, type PushedRepository } from './ops/push.js';
export { pullToLayout, type PullOptions } from './formats/registry/pull.js';
export { configureRegistries, type RegistrySettings } from './formats/registry/settings.js';
export { inventoryOfSource, buildInventory, serializeInventory, readExclusion } from './ops/inventory.js';
export { applyDelta } from './ops/apply.js';
export { exportImage, flatten, type ExportReport } from './ops/export.js';
export { exportToDirectory, type ExportDirOptions } from './ops/export-dir.js';
export { repairVolumes, type RepairResult } from './ops/repair.js';
export { generateKey, signManifest, checkTrust } from './ops/signing.js';
export { commitImage, type CommitImageOptions, type CommittedImage, type CommitOptions } from './ops/commit.js';
export { verifyCosign, requireSigned, readCosignKey, type CosignKey, type CosignReport, type ImageVerdict, type CosignVerifyOptions } from './ops/cosign-verify.js';
export { AttachedFinder, type AttachedManifest } from './formats/registry/referrers.js';
export { runImageSet, readFailureReport, writeFailureReport, pinnedReference, type ImageSetOptions, type ImageSetReport, type ImageSetSummary, type ResolvedImage, type SetFailure, type SetNote, type SetProgress, type Delivery, type LockInfo, type FailureReport, type RetryEntry } from './ops/image-sets.js';
export { readSetFiles, parseSetFile, entryKey, type ImageSet, type SetEntry, type PlatformChoice } from './ops/set-file.js';
export { selectTags, checkTagFilter, type TagFilter } from './ops/tag-filter.js';
export { readLock, writeLock, compareWithLock, type SetLock, type LockImage, type LockComparison } from './ops/lock.js';
export { listTags, resolveRemote, currentDigest, type RemoteImage } from './formats/registry/resolve.js';
export { findImages, type FindImagesOptions, type FindImagesResult, type FoundReference, type FoundLocation, type FindProblem } from './ops/find-images.js';
