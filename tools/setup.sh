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
  # fuzzing (libFuzzer) and the sanitizer runtimes
  clang-14 libclang-rt-14-dev llvm-14 libasan8 libubsan1
  # run
  runc containernetworking-plugins iproute2 iptables curl
  # test: a local registry and image tooling
  docker-registry umoci skopeo busybox-static apache2-utils
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
