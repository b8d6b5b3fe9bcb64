#!/bin/sh
# The runtime stage of docker/Dockerfile installs every package that owns a
# shared library the binaries load (ldd), directly or as a dependency of a
# listed package, so the image cannot drift from the binaries again.
# Libraries opened at run time (dlopen) are named with --dlopen SONAME: each
# must be installed here and come, with what it loads, from those packages.
# Usage: runtime_packages_test.sh DOCKERFILE [--dlopen SONAME]... BINARY...
set -eu
dockerfile=$1
shift
dlopened=""
while [ "${1:-}" = "--dlopen" ]; do
  path=$(/sbin/ldconfig -p | awk -v name="$2" '$1 == name { print $NF; exit }')
  [ -n "$path" ] || { echo "FAIL: $2 (opened at run time) is not installed here"; exit 1; }
  dlopened="$dlopened $path"
  shift 2
done

# The package names of the `apt-get install` in the last stage.
listed=$(awk '/^FROM /{stage=""} {stage = stage "\n" $0} END {print stage}' "$dockerfile" |
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep 'apt-get install' | sed 's/.*apt-get install//; s/&&.*//' |
  tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u)
[ -n "$listed" ] || { echo "FAIL: no apt-get install list in the last stage of $dockerfile"; exit 1; }

# What installing them brings: the packages and their dependencies, recursively.
# shellcheck disable=SC2086
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $listed 2>/dev/null | grep -v '^ ' | sed 's/:.*//' | sort -u)

# Every library each binary loads, as "BINARY LIB REALPATH" lines.
failed=0
pairs=$(mktemp)
trap 'rm -f "$pairs"' EXIT
for binary in "$@" $dlopened; do
  [ -e "$binary" ] || { echo "FAIL: no binary $binary"; exit 1; }
  missing_lib=$(ldd "$binary" | grep 'not found' || true)
  [ -z "$missing_lib" ] || { echo "FAIL: $binary: $missing_lib"; failed=1; }
  libs=$(ldd "$binary" | awk '$3 ~ /^\// {print $3}')
  case " $dlopened " in *" $binary "*) libs="$binary $libs" ;; esac  # the library itself too
  for lib in $libs; do echo "$binary $lib $(readlink -f "$lib")"; done >> "$pairs"
done

# Their owners, asked of dpkg once (one query per library took half a minute):
# "PACKAGE[:ARCH][, ...]: PATH" lines; a library is owned under its resolved
# path or, with /lib merged into /usr/lib, under the path ldd printed.
# shellcheck disable=SC2046
owners=$(dpkg -S $(awk '{print $2; print $3}' "$pairs" | sort -u) 2>/dev/null || true)
owner_of() {
  printf '%s\n' "$owners" | awk -v path="$1" '/^diversion /{ next } {
      i = index($0, ": "); if (substr($0, i + 2) != path) next
      p = substr($0, 1, i - 1); sub(/[:,].*/, "", p); print p; exit }'
}
while read -r binary lib real; do
  package=$(owner_of "$real")
  [ -n "$package" ] || package=$(owner_of "$lib")
  if [ -z "$package" ]; then
    echo "FAIL: $binary loads $lib, which no Debian package owns"
    failed=1
  elif ! printf '%s\n' "$closure" | grep -qx "$package"; then
    echo "FAIL: $binary loads $lib from package $package, which the runtime stage of $dockerfile does not install"
    failed=1
  fi
done < "$pairs"
[ "$failed" -eq 0 ] && echo "ok: every library of $* comes with the runtime stage's packages"
exit "$failed"
