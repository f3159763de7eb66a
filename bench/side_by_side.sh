#!/usr/bin/env bash
# side_by_side.sh: cradle and containerd 1.6 on this machine, side by side,
# measured by kubelet_bench in one run (as root).
#
#   bench/side_by_side.sh                       # -n 5 --parallel 8 --floor --memory-pods 20
#   bench/side_by_side.sh -n 20 --parallel 8 --floor --memory-pods 100
#
# Arguments are kubelet_bench's (the endpoints, image, pids, CNI config and
# mirror are given by this script). Each daemon gets its own root, state,
# socket and CNI config (a bridge + portmap conflist, its own bridge and
# subnet; both runtimes add loopback themselves), and the same image from a
# registry on loopback, mirrored for registry.k8s.io and docker.io. Both are
# stopped at the end, after checking that no pod is left.
#
# Environment:
#   WORK            scratch dir, emptied first (default /tmp/side-by-side)
#   REGISTRY        host:port of the local registry (default 127.0.0.1:5000);
#                   it must hold IMAGE and pause:3.6
#   REGISTRY_CONFIG a docker-registry config.yml: started if REGISTRY is down
#   IMAGE           default registry.k8s.io/e2e-test-images/busybox:1.29-2
#   NO_BUILD=1      use bazel-bin as it is (default: bazel build the targets)
#   CONTAINERD      containerd binary (default: from PATH)
#   CRICTL          crictl binary (default: from PATH; optional)
set -euo pipefail

WORK=${WORK:-/tmp/side-by-side}
REGISTRY=${REGISTRY:-127.0.0.1:5000}
IMAGE=${IMAGE:-registry.k8s.io/e2e-test-images/busybox:1.29-2}
CONTAINERD=${CONTAINERD:-$(command -v containerd || true)}
CRICTL=${CRICTL:-$(command -v crictl || true)}
REPO=$(cd "$(dirname "$0")/.." && pwd)
CNI_BIN_DIR=/usr/lib/cni
[ -x $CNI_BIN_DIR/bridge ] || CNI_BIN_DIR=/opt/cni/bin
if [ $# -eq 0 ]; then set -- -n 5 --parallel 8 --floor --memory-pods 20; fi

die() { echo "side_by_side: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
[ -n "$CONTAINERD" ] || die "containerd not found (apt-get install containerd)"
[ -x $CNI_BIN_DIR/bridge ] || die "CNI plugins not found"
case "$REGISTRY" in 127.*|localhost:*) ;; *) die "REGISTRY must be on loopback";; esac

# --- the registry
REGISTRY_PID=
if ! curl -sf "http://$REGISTRY/v2/" >/dev/null; then
  [ -n "${REGISTRY_CONFIG:-}" ] || die "no registry on $REGISTRY (set REGISTRY_CONFIG to start one)"
  docker-registry serve "$REGISTRY_CONFIG" >"/tmp/side-by-side-registry.log" 2>&1 </dev/null &
  REGISTRY_PID=$!
  for _ in $(seq 50); do curl -sf "http://$REGISTRY/v2/" >/dev/null && break; sleep 0.2; done
  curl -sf "http://$REGISTRY/v2/" >/dev/null || die "registry did not start"
fi

# --- binaries, copied so a rebuild during the run changes nothing
if [ "${NO_BUILD:-}" != 1 ]; then
  (cd "$REPO" && bazel build //cmd/cradled //shim:cradle-shim //cmd/pause //bench:kubelet_bench)
fi
# Refuse to empty a WORK that still has mounts (a pod's rootfs or a bind
# mount of a host file would be deleted through them).
if awk -v w="$WORK/" 'index($5, w) == 1 {found=1} END {exit !found}' /proc/self/mountinfo; then
  die "mounts remain under $WORK; unmount them first"
fi
rm -rf "$WORK"
mkdir -p "$WORK"/{bin,cradle/net.d,containerd/net.d,containerd/certs.d,floor}
for b in cmd/cradled/cradled shim/cradle-shim cmd/pause/pause bench/kubelet_bench; do
  cp "$REPO/bazel-bin/$b" "$WORK/bin/" || die "bazel-bin/$b missing: bazel build it"
done

# A bridge + portmap conflist: name, bridge, subnet, file.
conflist() {
  cat >"$4" <<EOF
{"cniVersion": "0.4.0", "name": "$1", "plugins": [
  {"type": "bridge", "bridge": "$2", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$WORK/ipam-$1",
            "ranges": [[{"subnet": "$3"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
}
conflist sbs-cradle sbs-cradle0 10.88.212.0/24 "$WORK/cradle/net.d/10-bench.conflist"
conflist sbs-containerd sbs-ctrd0 10.88.213.0/24 "$WORK/containerd/net.d/10-bench.conflist"
conflist sbs-floor sbs-floor0 10.88.214.0/24 "$WORK/floor/floor.conflist"

# --- cradled
cat >"$WORK/cradle/config.toml" <<EOF
root = "$WORK/cradle/root"
state = "$WORK/cradle/state"
[grpc]
address = "$WORK/cradle/cradle.sock"
[runtime]
cgroup_driver = "cgroupfs"
[cni]
bin_dirs = ["$CNI_BIN_DIR"]
conf_dir = "$WORK/cradle/net.d"
[registry]
plain_http = ["$REGISTRY"]
[registry.mirrors]
"registry.k8s.io" = ["http://$REGISTRY"]
"docker.io" = ["http://$REGISTRY"]
EOF

# --- containerd: its default config, patched
# Without CAP_SYS_RESOURCE (as here) runc cannot lower the sandbox's
# oom_score_adj; restrict_oom_score_adj clamps it as cradle does by itself.
"$CONTAINERD" config default >"$WORK/containerd/config.default.toml"
sed -e "s|^root = .*|root = \"$WORK/containerd/root\"|" \
    -e "s|^state = .*|state = \"$WORK/containerd/state\"|" \
    -e "s|^  address = \"/run/containerd/containerd.sock\"|  address = \"$WORK/containerd/containerd.sock\"|" \
    -e "s|restrict_oom_score_adj = false|restrict_oom_score_adj = true|" \
    -e "s|sandbox_image = .*|sandbox_image = \"registry.k8s.io/pause:3.6\"|" \
    -e "s|bin_dir = \"/opt/cni/bin\"|bin_dir = \"$CNI_BIN_DIR\"|" \
    -e "s|conf_dir = \"/etc/cni/net.d\"|conf_dir = \"$WORK/containerd/net.d\"|" \
    -e "s|^      config_path = \"\"|      config_path = \"$WORK/containerd/certs.d\"|" \
    "$WORK/containerd/config.default.toml" >"$WORK/containerd/config.toml"
# A crun runtime beside runc, for --runtime-handler crun (cradle has both).
if command -v crun >/dev/null; then
  cat >>"$WORK/containerd/config.toml" <<EOF

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun.options]
    BinaryName = "$(command -v crun)"
    SystemdCgroup = false
EOF
fi
for want in "$WORK/containerd/root" "$WORK/containerd/containerd.sock" \
            "restrict_oom_score_adj = true" "$WORK/containerd/net.d" "$WORK/containerd/certs.d"; do
  grep -qF "$want" "$WORK/containerd/config.toml" || die "containerd config: could not set $want"
done
for h in registry.k8s.io docker.io "$REGISTRY"; do
  mkdir -p "$WORK/containerd/certs.d/$h"
  cat >"$WORK/containerd/certs.d/$h/hosts.toml" <<EOF
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
done

CRADLED_PID='' CONTAINERD_PID=''
stop_daemons() {
  # Pods left by an interrupted run would outlive their daemon.
  if [ -n "$CRICTL" ]; then
    for s in cradle/cradle.sock containerd/containerd.sock; do
      [ -S "$WORK/$s" ] && "$CRICTL" --runtime-endpoint "unix://$WORK/$s" rmp -fa >/dev/null 2>&1 || true
    done
  fi
  for pid in $CRADLED_PID $CONTAINERD_PID $REGISTRY_PID; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $CRADLED_PID $CONTAINERD_PID $REGISTRY_PID; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  # The bridges the CNI plugins made for this run.
  for br in sbs-cradle0 sbs-ctrd0 sbs-floor0; do ip link del "$br" 2>/dev/null || true; done
}
trap stop_daemons EXIT

# Waits for a CRI socket to answer Version.
wait_cri() {
  for _ in $(seq 150); do
    if [ -S "$1" ]; then
      if [ -z "$CRICTL" ] || "$CRICTL" --runtime-endpoint "unix://$1" --timeout 2s version >/dev/null 2>&1; then
        return 0
      fi
    fi
    sleep 0.2
  done
  die "$1 did not come up; see $2"
}

"$WORK/bin/cradled" --config "$WORK/cradle/config.toml" >"$WORK/cradle/cradled.log" 2>&1 </dev/null &
CRADLED_PID=$!
"$CONTAINERD" --config "$WORK/containerd/config.toml" >"$WORK/containerd/containerd.log" 2>&1 </dev/null &
CONTAINERD_PID=$!
wait_cri "$WORK/cradle/cradle.sock" "$WORK/cradle/cradled.log"
wait_cri "$WORK/containerd/containerd.sock" "$WORK/containerd/containerd.log"

# The image on both (kubelet_bench would pull it too, untimed) and
# containerd's sandbox image, so no first pod pulls.
if [ -n "$CRICTL" ]; then
  "$CRICTL" --runtime-endpoint "unix://$WORK/cradle/cradle.sock" pull "$IMAGE" >/dev/null
  "$CRICTL" --runtime-endpoint "unix://$WORK/containerd/containerd.sock" pull "$IMAGE" >/dev/null
  "$CRICTL" --runtime-endpoint "unix://$WORK/containerd/containerd.sock" pull registry.k8s.io/pause:3.6 >/dev/null
fi

status=0
"$WORK/bin/kubelet_bench" \
  --endpoint "cradle=unix://$WORK/cradle/cradle.sock" \
  --endpoint "containerd=unix://$WORK/containerd/containerd.sock" \
  --pid "cradle=$CRADLED_PID" --pid "containerd=$CONTAINERD_PID" \
  --image "$IMAGE" --work-dir "$WORK/kubelet" \
  --cni-conf "$WORK/floor/floor.conflist" --cni-bin-dir "$CNI_BIN_DIR" \
  --mirror "$REGISTRY" "$@" || status=$?

if [ -n "$CRICTL" ]; then
  for s in cradle/cradle.sock containerd/containerd.sock; do
    left=$("$CRICTL" --runtime-endpoint "unix://$WORK/$s" pods -q | wc -l)
    echo "pods left on $s: $left"
    [ "$left" = 0 ] || status=1
  done
fi
exit $status
