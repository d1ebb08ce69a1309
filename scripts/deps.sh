#!/usr/bin/env bash
# Installs, only when missing, every Debian package keyhole's build, tests,
# fuzzing and benchmarks use. Safe to run again: installed packages are
# skipped and nothing is upgraded.
set -eu
pkgs=(
  # build
  gcc make pkg-config libssl-dev libyaml-dev libjansson-dev
  # tests: real clients and upstreams
  python3 python3-pytest python3-websockets curl openssl git nginx-light procps iproute2
  # sanitizers, fuzzing, lint, parser oracle
  clang libclang-rt-14-dev llvm cppcheck clang-format node-llhttp
  # sandbox (namespaces, transparent mode)
  bubblewrap nftables socat
  # benchmark peers
  mitmproxy squid-openssl
)
missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages already installed"
  exit 0
fi
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "deps: these packages are missing and you are not root: ${missing[*]}" >&2
    echo "deps: run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: done"
