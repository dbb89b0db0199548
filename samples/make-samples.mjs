#!/usr/bin/env node
// Makes the sample archives of samples/ with imgpack's own test builder (deterministic: running
// it again gives byte-identical files; a unit test checks that). Needs `npm run build` first.
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { buildImage, dockerArchiveEntries, ociEntries, tarBuffer } from '../dist/testing/build.js';

const out = process.argv[2] ? `${process.argv[2].replace(/\/$/, '')}/` : new URL('.', import.meta.url).pathname;
const base = { files: { 'etc/os-release': 'ID=imgpack-sample\n', 'bin/hello': '#!/bin/sh\necho hello\n' } };

const baseImage = await buildImage({ names: ['imgpack/base:1'], layers: [base] }, 'docker');
const web = await buildImage({ names: ['imgpack/web:1.0', 'imgpack/web:latest'], cmd: ['/bin/httpd', '-f'], layers: [base, { files: { 'data/html/index.html': '<h1>This is first page!</h1>\n' } }] }, 'docker');
const tool = await buildImage({ names: ['quay.io/imgpack/tool:2'], layers: [base, { files: { 'usr/bin/tool': 'tool\n' }, compression: 'gzip' }] });

// What `docker save imgpack/base:1 imgpack/web:1.0 imgpack/web:latest` writes (docker <= 24).
writeFileSync(`${out}web.docker.tar`, await tarBuffer(dockerArchiveEntries([baseImage, web])));
// An OCI archive with gzip layers, as skopeo or buildah write it, named with full references.
writeFileSync(`${out}tool.oci.tar`, await tarBuffer(ociEntries([tool], { refNameStyle: 'full' })));
// The same docker archive, gzip-wrapped (docker save | gzip), with one layer byte changed:
// what a bad USB stick does. verify must catch it.
const broken = await tarBuffer(dockerArchiveEntries([baseImage, web]));
const at = broken.indexOf(Buffer.from('This is first page'));
broken[at] ^= 0x20;
writeFileSync(`${out}web-corrupt.tar.gz`, gzipSync(broken));
console.log('samples written: web.docker.tar tool.oci.tar web-corrupt.tar.gz');
