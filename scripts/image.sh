#!/usr/bin/env bash
# `make image`: the relay as a static musl binary in a `FROM scratch` image (deploy/Dockerfile),
# built with Podman or Docker, whichever is present. Prints the image's size and fails above
# the 15 MB budget. A second run with an unchanged binary rebuilds nothing.
#
#   COMETA_IMAGE     tag to build [cometa-relay:latest]
#   CONTAINER_ENGINE podman or docker [podman when installed, else docker]
#   PODMAN_STORAGE_DRIVER  Podman's storage driver [vfs: the one that works in containers
#                    and CI machines without overlay support]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tag="${COMETA_IMAGE:-cometa-relay:latest}"
target=x86_64-unknown-linux-musl
max_bytes=$((15 * 1000 * 1000))

engine="${CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
    if command -v podman >/dev/null; then engine=podman
    elif command -v docker >/dev/null; then engine=docker
    else echo "image.sh: neither podman nor docker is installed (make setup installs podman)" >&2; exit 1
    fi
fi
cli=("$engine")
build_flags=()
if [ "$engine" = podman ]; then
    cli+=(--storage-driver "${PODMAN_STORAGE_DRIVER:-vfs}")
    # OCI images drop HEALTHCHECK; the Docker format keeps it.
    build_flags+=(--format docker)
fi

# rusqlite's bundled SQLite and ring's C parts need a C compiler for musl.
export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-musl-gcc}"
cargo build --locked --profile image --target "$target" -p cometa-relay --bin cometa-relay
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$target_dir/$target/image/cometa-relay"

# The build context holds only what the Dockerfile copies: never the repository's target/.
ctx="$target_dir/image-context"
rm -rf "$ctx"
mkdir -p "$ctx/data"
cp "$bin" "$ctx/cometa-relay"
cp "$root/deploy/Dockerfile" "$ctx/Dockerfile"
stamp="$(cat "$ctx/cometa-relay" "$ctx/Dockerfile" | sha256sum | cut -c1-16)"

if [ "$("${cli[@]}" image inspect --format '{{ index .Config.Labels "cometa.build" }}' "$tag" 2>/dev/null)" = "$stamp" ]; then
    echo "image.sh: $tag is current"
else
    "${cli[@]}" build "${build_flags[@]}" --label "cometa.build=$stamp" -t "$tag" "$ctx"
fi

size="$("${cli[@]}" image inspect --format '{{.Size}}' "$tag")"
echo "image.sh: $tag is $size bytes ($((size / 1000 / 1000)) MB, budget 15 MB)"
if [ "$size" -gt "$max_bytes" ]; then
    echo "image.sh: $tag is over the 15 MB budget" >&2
    exit 1
fi
