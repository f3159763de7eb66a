#!/usr/bin/env bash
# What can be checked of the kind recipe without kind or its base image:
# stage.sh fills a context holding every file the Containerfile copies, and
# the Containerfile installs a Debian package for each shared library the
# built cradled loads.
set -euo pipefail

runfiles="${TEST_SRCDIR:?}/${TEST_WORKSPACE:-cradle}"
containerfile="$runfiles/k8s/kind/Containerfile"
ctx="$(mktemp -d "${TEST_TMPDIR:-/tmp}/ctx.XXXXXX")"
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

CRADLED="$runfiles/cmd/cradled/cradled" \
  CRADLE_SHIM="$runfiles/shim/cradle-shim" \
  PAUSE="$runfiles/cmd/pause/pause" \
  "$runfiles/k8s/kind/stage.sh" "$ctx" >/dev/null

# COPY [--flags] SRC... DEST: every SRC must be in the context.
copies=0
while read -r -a words; do
  srcs=()
  for w in "${words[@]:1}"; do
    [[ "$w" == --* ]] || srcs+=("$w")
  done
  unset 'srcs[${#srcs[@]}-1]'  # the destination
  for s in "${srcs[@]}"; do
    copies=$((copies + 1))
    [[ -f "$ctx/$s" ]] || fail "Containerfile copies $s, which stage.sh does not provide"
  done
done < <(grep -E '^COPY ' "$containerfile")
((copies >= 8)) || fail "found only $copies COPY sources; is the parsing broken?"
for b in cradled cradle-shim pause; do
  [[ -x "$ctx/$b" ]] || fail "$b is not an executable in the context"
done
[[ "$("$ctx/cradled" --version 2>/dev/null)" == "cradled "* ]] ||
  fail "the staged cradled does not run"

# The packages the Containerfile installs, from its apt-get install line(s).
# The words after --no-install-recommends, up to the next "&&".
wanted="$(sed -n '/--no-install-recommends/,/&&/p' "$containerfile" |
  sed -e 's/.*--no-install-recommends//' -e 's/&&.*//' |
  tr ' \\' '\n\n' | grep -v '^$' | sort -u)"
[[ -n "$wanted" ]] || fail "no packages found in the Containerfile"

# Each library cradled names (DT_NEEDED), mapped to the Debian package that
# ships it here. libc, libstdc++ and libgcc come with every Debian image.
# dpkg knows a file by the path its package installed it at, with or without
# Debian's merged /usr: ask once for every spelling (one dpkg -S per library
# reads dpkg's whole database each time, too slow for a small test).
needed="$(readelf -d "$ctx/cradled" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
[[ -n "$needed" ]] || fail "readelf found no NEEDED entries in cradled"
declare -A lib_paths
candidates=()
# Read once: awk leaving a pipe early would SIGPIPE ldconfig, which
# pipefail turns into a silent exit of this script.
ldcache="$(ldconfig -p)"
for lib in $needed; do
  path="$(awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}' <<<"$ldcache")"
  [[ -n "$path" ]] || continue
  real="$(readlink -f "$path")"
  lib_paths[$lib]="$path $real /usr${path#/usr} ${path#/usr} /usr${real#/usr} ${real#/usr}"
  candidates+=(${lib_paths[$lib]})
done
declare -A owner_of
while IFS= read -r line; do
  pkg="${line%%:*}"
  owner_of["${line#*: }"]="$pkg"
done < <(dpkg -S "${candidates[@]}" 2>/dev/null || true)
for lib in $needed; do
  pkg=""
  for p in ${lib_paths[$lib]:-}; do
    [[ -n "${owner_of[$p]:-}" ]] && pkg="${owner_of[$p]}" && break
  done
  [[ -n "$pkg" ]] || { fail "no Debian package found for $lib"; continue; }
  # The sanitizer runtimes are there when this runs under --config=asan; a
  # node image is built from the plain build, which loads neither.
  case "$pkg" in libc6 | libstdc++6 | libgcc-s1 | libasan* | libubsan*) continue ;; esac
  grep -qxF "$pkg" <<<"$wanted" ||
    fail "cradled loads $lib from $pkg, which the Containerfile does not install"
done

rm -rf "$ctx"
((failures == 0)) || exit 1
echo "PASS: kind recipe"
