#!/usr/bin/env bash
# The README's first command: imgpack's main job on the samples the project makes itself.
set -euo pipefail
cd "$(dirname "$0")/.."
imgpack() { node bin/imgpack.js "$@"; }
step() { printf '\n\033[1m$ imgpack %s\033[0m\n' "$*"; }

step inspect samples/web.docker.tar
imgpack inspect samples/web.docker.tar
step inspect samples/tool.oci.tar --layers
imgpack inspect samples/tool.oci.tar --layers
step verify samples/web.docker.tar
imgpack verify samples/web.docker.tar
step "verify samples/web-corrupt.tar.gz   # one byte changed, as a bad USB stick does"
if imgpack verify samples/web-corrupt.tar.gz; then echo "verify should have failed" >&2; exit 1; else echo "(exit $? : the damage is named before docker load ever sees it)"; fi
