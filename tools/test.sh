#!/usr/bin/env bash
# Runs every cradle test and prints one summary line:
#   1. everything as built for use (the static shim, -O2), the e2e suites
#      excepted: that build runs only the unit tests;
#   2. every unit and e2e test under ASan + UBSan (--config=asan): the e2e
#      suites drive the sanitized cradled and shim;
#   3. every fuzz target for CRADLE_FUZZ_SECONDS (default 10) each, with
#      libFuzzer and clang-14 (tools/fuzz.sh).
# Running the e2e suites once, not twice, keeps CI inside 45 minutes on two
# cores. e2e tests need root: they start cradled, runc, a registry and CNI.
# Extra arguments go to both bazel test runs.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || exit 1

passed=0
failed=0
rc=0
# bazel test, counting targets; $1 names the run in the summary.
run_tests() {
  local label=$1
  shift
  local log
  log=$(mktemp)
  bazel test --test_summary=short "$@" 2>&1 | tee "$log"
  local code=${PIPESTATUS[0]}
  local p f
  p=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
  f=$(grep -cE '^//[^ ]+ +(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log")
  rm -f "$log"
  echo "cradle tests ($label): $p passed, $f failed"
  if ((code == 0 && p == 0)); then
    echo "no test ran ($label)" >&2
    code=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  ((code == 0)) || rc=1
}

run_tests plain "$@" -- //... -//e2e/...
run_tests asan --config=asan "$@" -- //...
if tools/fuzz.sh "${CRADLE_FUZZ_SECONDS:-10}"; then
  echo "cradle fuzz: ok"
else
  failed=$((failed + 1))
  rc=1
fi
echo "cradle tests: ${passed} passed, ${failed} failed"
exit "$rc"
