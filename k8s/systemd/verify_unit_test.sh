#!/usr/bin/env bash
# Checks k8s/systemd/cradle.service: the settings a node depends on are there,
# and systemd's own parser (systemd-analyze verify) accepts the unit without a
# complaint. verify also checks that ExecStart's binary exists, so it runs on a
# copy that differs only in pointing ExecStart at the cradled just built.
set -euo pipefail

runfiles="${TEST_SRCDIR:?}/${TEST_WORKSPACE:-cradle}"
unit="$runfiles/k8s/systemd/cradle.service"
cradled="$runfiles/cmd/cradled/cradled"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/unit.XXXXXX")"
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# Exact lines, so a commented-out or misspelt setting does not pass.
for want in \
  Type=notify \
  KillMode=process \
  Delegate=yes \
  Restart=always \
  RestartSec=5 \
  ExecStart=/usr/local/bin/cradled \
  ExecStartPre=-/sbin/modprobe\ overlay \
  LimitNOFILE=infinity \
  LimitNPROC=infinity \
  LimitCORE=infinity \
  TasksMax=infinity \
  OOMScoreAdjust=-999 \
  WantedBy=multi-user.target; do
  grep -qxF -- "$want" "$unit" || fail "cradle.service lacks the line '$want'"
done

# Runs verify on $1 (a unit file named cradle.service); fails on a non-zero
# exit and on any complaint about the unit, which verify only logs for
# unknown keys and bad values.
verify() {
  local out rc=0
  out="$(systemd-analyze verify --man=no --generators=no "$1" 2>&1)" || rc=$?
  if ((rc != 0)) || grep -q 'cradle\.service' <<<"$out"; then
    echo "$out"
    return 1
  fi
}

# $1: a sed expression applied to the unit; the copy lands in its own dir.
variant() {
  local dir
  dir="$(mktemp -d "$work/v.XXXXXX")"
  sed -e "s|^ExecStart=/usr/local/bin/cradled\$|ExecStart=$cradled|" -e "$1" \
    "$unit" >"$dir/cradle.service"
  echo "$dir/cradle.service"
}

[[ -x "$cradled" ]] || fail "no cradled at $cradled"
good="$(variant '')"
changed="$(diff "$unit" "$good" | grep -c '^>' || true)"
[[ "$changed" == 1 ]] || fail "the copy should differ in ExecStart only; $changed lines differ"
if ! report="$(verify "$good")"; then
  fail "systemd-analyze verify rejects cradle.service:"$'\n'"$report"
fi

# The checker itself must catch a broken unit, or passing means nothing.
for broken in 's/^KillMode=/KilMode=/' 's/^Type=notify$/Type=notfy/' \
  "s|^ExecStart=.*|ExecStart=$work/missing-cradled|"; do
  if verify "$(variant "$broken")" >/dev/null; then
    fail "verify accepted a unit broken by '$broken'"
  fi
done

rm -rf "$work"
if ((failures)); then
  exit 1
fi
echo "PASS: cradle.service"
