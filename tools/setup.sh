#!/usr/bin/env bash
# Installs every Debian package cradle needs to build, run and test.
# Idempotent: apt is only asked when something is missing.
set -euo pipefail

packages=(
  # build
  bazel-bootstrap build-essential protobuf-compiler protobuf-compiler-grpc
  libgrpc++-dev libprotobuf-dev libabsl-dev libleveldb-dev libgoogle-glog-dev
  libarchive-dev libgtest-dev libgmock-dev libssl-dev libcurl4-openssl-dev
  libtomlplusplus-dev nlohmann-json3-dev libseccomp-dev libzstd-dev zlib1g-dev
  libyaml-cpp-dev libre2-dev libsystemd-dev
  # fuzzing (libFuzzer) and the sanitizer runtimes
  clang-14 libclang-rt-14-dev llvm-14 libasan8 libubsan1
  # run
  runc crun containernetworking-plugins iproute2 iptables curl
  # test: a local registry and image tooling
  docker-registry umoci skopeo busybox-static apache2-utils criu
  # test: containerd's own client (ctr) against cradled's socket
  containerd
  # test: systemd-analyze verify of k8s/systemd/cradle.service
  systemd
  # test: Prometheus's own text-format parser (e2e/metrics_test)
  python3-prometheus-client
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "setup: all packages present"

# crun 1.8 refuses a hybrid cgroup host (v1 controllers, v2 "unified") whose
# v2 hierarchy still holds a controller. systemd's hybrid layout mounts every
# controller as v1; do the same for any left on v2 (hugetlb on some hosts).
if [[ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" == tmpfs &&
      -r /sys/fs/cgroup/unified/cgroup.controllers ]]; then
  for c in $(cat /sys/fs/cgroup/unified/cgroup.controllers); do
    mountpoint -q "/sys/fs/cgroup/$c" && continue
    mkdir -p "/sys/fs/cgroup/$c"
    if mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"; then
      echo "setup: cgroup controller $c moved to its v1 hierarchy (for crun)"
    else
      echo "setup: warning: cannot mount cgroup v1 $c; crun will refuse pods" >&2
    fi
  done
fi

# A default pod network (k8s/cni/README.md: bridge cradle0, 10.77.0.0/16),
# only where no CNI network is configured yet: a cluster's own CNI or an
# admin's file is never replaced, and a second run changes nothing.
cni_conf_dir=/etc/cni/net.d
cni_default="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/k8s/cni/99-cradle-default.conflist"
mkdir -p "$cni_conf_dir"
cni_existing="$(find "$cni_conf_dir" -mindepth 1 -maxdepth 1 \
  \( -name '*.conf' -o -name '*.conflist' -o -name '*.json' \) | sort)"
if [[ -z "$cni_existing" ]]; then
  install -m 0644 "$cni_default" "$cni_conf_dir/99-cradle-default.conflist"
  echo "setup: installed the default pod network $cni_conf_dir/99-cradle-default.conflist"
elif cmp -s "$cni_default" "$cni_conf_dir/99-cradle-default.conflist"; then
  echo "setup: default pod network already in $cni_conf_dir"
else
  echo "setup: $cni_conf_dir already has a network config, left as is:" \
    $cni_existing
fi
