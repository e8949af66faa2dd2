# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Sourced by scripts/day.sh and bench/workload.sh: Debian's GNU sed source,
# fetched once with a private apt configuration (its own sources.list, lists
# and cache under CACHE: the system's sources are not changed) and kept in
# CACHE/src between runs.

# dise_sed_source CACHE LOG: prints the unpacked source directory (CACHE/src/sed-*),
# fetching it first when CACHE has none; 1 (with the reason on stderr) when it cannot.
dise_sed_source() {
  local cache=$1 log=$2 apt src
  if [ ! -d "$cache/src" ]; then
    mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial" "$cache/src"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
      > "$cache/apt/sources.list"
    apt="-o Dir::Etc::SourceList=$cache/apt/sources.list -o Dir::Etc::SourceParts=/dev/null
         -o Dir::State::Lists=$cache/apt/lists -o Dir::Cache=$cache/apt/cache -o APT::Sandbox::User=root"
    # shellcheck disable=SC2086
    if ! (apt-get $apt -qq update && cd "$cache/src" && apt-get $apt -qq source sed) >"$log" 2>&1; then
      echo "could not fetch sed's source:" >&2
      tail -5 "$log" >&2
      rm -rf "$cache/src"
      return 1
    fi
  fi
  src=$(find "$cache/src" -maxdepth 1 -type d -name 'sed-*' 2>/dev/null | head -1)
  [ -n "$src" ] || { echo "no sed source in $cache/src" >&2; return 1; }
  echo "$src"
}
