#!/usr/bin/env bash
# Fills a build context for k8s/kind/Containerfile: the built binaries and
# the node's files, flat in one directory (a context cannot reach through
# Bazel's bazel-bin symlink). Usage, after `bazel build //cmd/...`:
#   k8s/kind/stage.sh DIR
# CRADLED, CRADLE_SHIM and PAUSE override where the binaries are taken from.
set -euo pipefail

dest="${1:?usage: stage.sh DIR}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cradled="${CRADLED:-$repo/bazel-bin/cmd/cradled/cradled}"
shim="${CRADLE_SHIM:-$repo/bazel-bin/shim/cradle-shim}"
pause="${PAUSE:-$repo/bazel-bin/cmd/pause/pause}"

for b in "$cradled" "$shim" "$pause"; do
  [[ -x "$b" ]] || { echo "stage.sh: $b is missing; bazel build //cmd/... first" >&2; exit 1; }
done
mkdir -p "$dest"
install -m 0755 "$cradled" "$dest/cradled"
install -m 0755 "$shim" "$dest/cradle-shim"
install -m 0755 "$pause" "$dest/pause"
install -m 0644 "$repo/k8s/systemd/cradle.service" "$repo/k8s/crictl.yaml" "$dest/"
for f in config.toml cradle-kind.conf kubelet-kind.conf kubelet-default; do
  install -m 0644 "$repo/k8s/kind/$f" "$dest/$f"
done
echo "stage.sh: build context ready in $dest"
