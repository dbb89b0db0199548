/**
 * `repair`: rebuilds missing or damaged volumes of a set from its parity volumes, byte for byte.
 * Every rebuilt volume is written to a temporary name, checked against the sha256 the transfer
 * manifest gives, and only then renamed into place.
 */
import { renameSync } from 'node:fs';
import { basename } from 'node:path';
import { invalid, usage } from '../errors.js';
import { rebuildShards, type Shard } from '../io/parity.js';
import { registerTemp, releaseTemp, siblingTempName } from '../io/temp.js';
import { throwIfCancelled } from '../io/cancel.js';
import { checkEachVolume, findVolumeSet, manifestPathOf, noVolumeSetError } from '../io/volumes.js';

export interface RepairResult {
  repaired: string[];
  parityVolumes: number;
}

export async function repairVolumes(spec: string): Promise<RepairResult> {
  const set = findVolumeSet(spec);
  if (!set) throw noVolumeSetError(spec);
  if (!set.manifest) {
    const manifest = manifestPathOf(set.base);
    throw usage('no-transfer-manifest', `the transfer manifest ${basename(manifest)} is missing: repair needs it (it gives every volume's size and sha256 and names the parity volumes); copy it beside ${basename(set.files[0])}`, manifest);
  }
  const parity = set.manifest.parity;
  if (!parity) throw invalid('no-parity', 'this volume set has no parity volumes: nothing can be rebuilt', spec);
  const checks = await checkEachVolume(set);
  const damaged = checks.filter((c) => c.problem);
  if (damaged.length === 0) return { repaired: [], parityVolumes: parity.volumes.length };
  if (damaged.length > parity.volumes.length) {
    throw invalid('volumes-unrepairable', `${damaged.length} volumes are damaged (${damaged.map((c) => basename(c.file)).join(', ')}) but parity rebuilds at most ${parity.volumes.length}: unrepairable`, spec);
  }
  const removers: (() => void)[] = [];
  const shards: Shard[] = checks.map((c) => {
    if (!c.problem) return { path: c.file, size: c.expect.size, good: true };
    const output = siblingTempName(c.file);
    removers.push(registerTemp(output));
    return { path: c.file, size: c.expect.size, good: false, output };
  });
  try {
    const hashes = await rebuildShards(shards, set.manifest.volumes.length, parity.shardSize);
    for (const [i, sha256] of hashes) {
      if (sha256 !== checks[i].expect.sha256) throw invalid('repair-mismatch', `the rebuilt volume has sha256 ${sha256}, the manifest says ${checks[i].expect.sha256}: the parity volumes do not belong to these volumes`, checks[i].file);
    }
    throwIfCancelled(); // the renames below are synchronous: all of them, or none
    for (const [i] of hashes) {
      renameSync(shards[i].output!, checks[i].file);
      releaseTemp(shards[i].output!);
    }
  } finally {
    for (const remove of removers) remove();
  }
  return { repaired: damaged.map((c) => basename(c.file)), parityVolumes: parity.volumes.length };
}
