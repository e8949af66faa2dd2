#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what dise needs to build, test and benchmark, when it is missing (Debian;
# time, dpkg-dev and xz-utils for bench/workload.sh: /usr/bin/time and apt-get source;
# shipping, issue 13: scdoc builds the man pages, file and dpkg-dev let cpack compute the .deb's
# Depends, lintian checks it, man-db renders the pages, systemd's systemd-analyze verifies the
# units (no systemd needs to run), sudo is one of the programs of the whole-host smoke test;
# libdw-dev, libdebuginfod-dev, elfutils for symbols; prometheus-node-exporter for the metrics test;
# graphviz draws the lineage in dise report --html, chromium renders that page headless in test-report).
set -eu

PKGS="cmake make gcc pkg-config binutils libunwind-dev libjansson-dev libcmocka-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev python3 git coreutils bubblewrap golang-go time dpkg-dev xz-utils scdoc file lintian man-db systemd sudo libdw-dev libdebuginfod-dev elfutils prometheus-node-exporter graphviz chromium"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "dise: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "dise: missing packages:$missing (run as root or install sudo)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
