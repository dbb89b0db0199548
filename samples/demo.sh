#!/usr/bin/env bash
# The README's first command: imgpack's main job on the samples the project makes itself.
# Outputs go to a temporary directory, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d "${TMPDIR:-/tmp}/imgpack-demo.XXXXXX")
trap 'rm -rf "$out"' EXIT
imgpack() { node bin/imgpack.cjs "$@"; }
step() { printf '\n\033[1m$ imgpack %s\033[0m\n' "$*"; }

step inspect samples/web.docker.tar
imgpack inspect samples/web.docker.tar
step inspect samples/tool.oci.tar --layers
imgpack inspect samples/tool.oci.tar --layers
step verify samples/web.docker.tar
imgpack verify samples/web.docker.tar
step "verify samples/web-corrupt.tar.gz   # one byte changed, as a bad USB stick does"
if imgpack verify samples/web-corrupt.tar.gz; then echo "verify should have failed" >&2; exit 1; else echo "(exit $?: the damage is named before docker load ever sees it)"; fi

# The air gap: the connected side loads images into its store and saves them onto the "USB
# drive" as volumes with a transfer manifest, with imgpack itself beside them; the far side
# checks every volume and loads them into its own store, with no daemon on either side.
step "--store near load -i samples/web.docker.tar -i samples/tool.oci.tar"
imgpack --store "$out/near" load -i samples/web.docker.tar -i samples/tool.oci.tar
mkdir "$out/usb"   # the drive
step "--store near save --all -o usb/bundle.tar --volume-size 1M"
imgpack --store "$out/near" save --all -o "$out/usb/bundle.tar" --volume-size 1M
step "self-copy usb/"
imgpack self-copy "$out/usb/"
step "verify usb/bundle.tar.001   # on the far side"
imgpack verify "$out/usb/bundle.tar.001"
step "--store far load -i usb/bundle.tar.001"
imgpack --store "$out/far" load -i "$out/usb/bundle.tar.001"
step "--store far images"
imgpack --store "$out/far" images

step merge samples/web.docker.tar samples/tool.oci.tar -o bundle.tar
imgpack merge samples/web.docker.tar samples/tool.oci.tar -o "$out/bundle.tar"
step retag bundle.tar --replace-prefix docker.io/=registry.local:5000/ --replace-prefix quay.io/=registry.local:5000/ -o mirror.tar
imgpack retag "$out/bundle.tar" --replace-prefix docker.io/=registry.local:5000/ --replace-prefix quay.io/=registry.local:5000/ -o "$out/mirror.tar"
step tag mirror.tar registry.local:5000/imgpack/web:1.0 registry.local:5000/imgpack/web:stable
imgpack tag "$out/mirror.tar" registry.local:5000/imgpack/web:1.0 registry.local:5000/imgpack/web:stable
step convert mirror.tar --format docker-archive -o for-docker-20.tar
imgpack convert "$out/mirror.tar" --format docker-archive -o "$out/for-docker-20.tar"
step convert mirror.tar -o oci-layout/
imgpack convert "$out/mirror.tar" -o "$out/oci-layout/"
step inspect mirror.tar
imgpack inspect "$out/mirror.tar"
step verify mirror.tar
imgpack verify "$out/mirror.tar"
echo
echo "mirror.tar loads as it is with: docker load -i mirror.tar (docker 20.10+, containerd store too), podman load, skopeo copy"
