#!/usr/bin/env bash
# Builds every cc_fuzz_target with clang-14 + libFuzzer (ASan, UBSan) and runs
# each for a bounded time, starting from its seed corpus. A crash, leak or
# sanitizer report fails the run and leaves the input under $out.
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# The clang build keeps its own Bazel output base, so it never evicts the
# gcc build's cache.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
# One output base per checkout, as Bazel keys its own.
base=${CRADLE_FUZZ_OUTPUT_BASE:-$HOME/.cache/cradle-fuzz-$(pwd -P | md5sum | cut -c1-12)}
bazel_fuzz=(bazel --output_base="$base")

if (($# > 0)); then
  targets=("$@")
else
  # Asked of the main output base: a second one would walk into the first
  # one's bazel-* convenience symlinks.
  mapfile -t targets < <(bazel query --noshow_progress \
    'attr(tags, "fuzz_target", tests(//...))' 2>/dev/null)
fi
if ((${#targets[@]} == 0)); then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
"${bazel_fuzz[@]}" build --config=fuzz "${targets[@]}" || exit 1
bin=$("${bazel_fuzz[@]}" info --config=fuzz bazel-bin 2>/dev/null)

out=$(mktemp -d /tmp/cradle-fuzz.XXXXXX)
failed=0
for t in "${targets[@]}"; do
  pkg=${t#//}; pkg=${pkg%%:*}; name=${t##*:}
  work="$out/$name"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -r "$pkg/corpus/$name/." "$work/corpus/"
  if "$bin/$pkg/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
    "$work/corpus" >"$work/log" 2>&1; then
    echo "fuzz: $t ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$') runs in ${seconds}s)"
  else
    failed=$((failed + 1))
    echo "fuzz: $t FAILED; log and input in $work" >&2
    grep -m20 -E 'ERROR|SUMMARY|runtime error|Test unit written' "$work/log" >&2
  fi
done
# The clang server is not needed again until the next run.
"${bazel_fuzz[@]}" shutdown 2>/dev/null
echo "cradle fuzz: $((${#targets[@]} - failed)) passed, $failed failed"
((failed == 0)) || exit 1
rm -rf "$out"
