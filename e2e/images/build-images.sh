#!/usr/bin/env bash
# Builds the e2e test images as OCI layouts with umoci and pushes them to a
# registry with skopeo.
#
#   [DEST_CREDS=user:pass] [BIG_MB=N] build-images.sh OUT_DIR PAUSE_BINARY REGISTRY_HOST:PORT
#
# Images (each pushed as 127.0.0.1:PORT/NAME:TAG):
#   busybox:latest     busybox-static with its applets, Cmd ["sh"]
#   pause:3.9 (+3.6, 3.7, 3.8)  cradle's static pause, user 65535
#   multilayer:latest  busybox + a layer of files + a layer of whiteouts:
#                      /etc/removed-me and /data/a deleted, /opaque opaque
#                      (its old content hidden, /opaque/new added)
# OUT_DIR/digests/NAME holds each pushed manifest digest.
set -euo pipefail

out=$1
pause_binary=$2
registry=$3
layout=$out/layout
mkdir -p "$out/digests"
rm -rf "$layout" "$out/work"
mkdir -p "$out/work"
umoci init --layout "$layout"

# A busybox rootfs: relative applet links, so it never points at the host.
make_busybox_rootfs() {
  local root=$1
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
  chmod 1777 "$root/tmp"
}

# busybox
umoci new --image "$layout:busybox"
umoci unpack --image "$layout:busybox" "$out/work/busybox"
make_busybox_rootfs "$out/work/busybox/rootfs"
umoci repack --image "$layout:busybox" "$out/work/busybox"
umoci config --image "$layout:busybox" --config.cmd sh \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --architecture amd64 --os linux

# pause
umoci new --image "$layout:pause"
umoci unpack --image "$layout:pause" "$out/work/pause"
install -m 0755 "$pause_binary" "$out/work/pause/rootfs/pause"
umoci repack --image "$layout:pause" "$out/work/pause"
umoci config --image "$layout:pause" --config.entrypoint /pause --config.user 65535:65535 \
  --architecture amd64 --os linux

# multilayer: the busybox image (the very same base layer, so the two share
# it), then a layer of files, then a hand-made whiteout layer (umoci writes
# per-file whiteouts itself but never an opaque marker).
umoci tag --image "$layout:busybox" multilayer
umoci unpack --image "$layout:multilayer" "$out/work/multi"
mkdir -p "$out/work/multi/rootfs/data" "$out/work/multi/rootfs/opaque"
echo a > "$out/work/multi/rootfs/data/a"
echo b > "$out/work/multi/rootfs/data/b"
echo old > "$out/work/multi/rootfs/opaque/old"
echo gone > "$out/work/multi/rootfs/etc/removed-me"
umoci repack --image "$layout:multilayer" "$out/work/multi"
whiteouts=$out/work/whiteouts
mkdir -p "$whiteouts/etc" "$whiteouts/data" "$whiteouts/opaque"
: > "$whiteouts/etc/.wh.removed-me"
: > "$whiteouts/data/.wh.a"
: > "$whiteouts/opaque/.wh..wh..opq"
echo new > "$whiteouts/opaque/new"
tar --no-recursion --numeric-owner --owner=0 --group=0 -C "$whiteouts" -cf "$out/work/whiteouts.tar" \
  etc etc/.wh.removed-me data data/.wh.a opaque opaque/.wh..wh..opq opaque/new
umoci raw add-layer --image "$layout:multilayer" "$out/work/whiteouts.tar"

# big (only with BIG_MB set): busybox plus one layer of BIG_MB MiB of random
# bytes, for interrupted-pull tests.
if [ -n "${BIG_MB:-}" ]; then
  umoci tag --image "$layout:busybox" big
  umoci unpack --image "$layout:big" "$out/work/big"
  head -c "$((BIG_MB * 1024 * 1024))" /dev/urandom > "$out/work/big/rootfs/blob"
  umoci repack --image "$layout:big" "$out/work/big"
fi

push() {
  local name=$1 tag=$2 src=$3
  skopeo copy --quiet --dest-tls-verify=false ${DEST_CREDS:+--dest-creds "$DEST_CREDS"} \
    --digestfile "$out/digests/$name:$tag" \
    "oci:$layout:$src" "docker://$registry/$name:$tag"
}
push busybox latest busybox
for tag in 3.9 3.8 3.7 3.6; do push pause "$tag" pause; done
push multilayer latest multilayer
if [ -n "${BIG_MB:-}" ]; then push big latest big; fi
rm -rf "$out/work"
echo "images pushed to $registry"
