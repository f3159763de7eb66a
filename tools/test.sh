#!/usr/bin/env bash
# Runs every cradle test (unit and e2e) and prints one summary line.
# e2e tests need root: they start cradled, runc, a registry and CNI.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || exit 1

log=$(mktemp)
bazel test //... --test_summary=short "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log")
rm -f "$log"
echo "cradle tests: ${passed} passed, ${failed} failed"
if ((rc == 0 && passed == 0)); then
  echo "no test ran" >&2
  exit 1
fi
exit "$rc"
