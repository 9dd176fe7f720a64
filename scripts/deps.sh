#!/usr/bin/env bash
# Installs the Debian bookworm packages caf-raft needs (sudo only when not root); no-op when present.
set -euo pipefail
pkgs=(g++ cmake make pkg-config libcaf-dev libssl-dev liblmdb-dev libboost-test-dev libfmt-dev
      libjemalloc-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
