#!/usr/bin/env bash
# Installs, only when missing, the Debian packages a task needs. Safe to run
# again: installed packages are skipped and nothing is upgraded.
#   scripts/deps.sh [build|test|all]   (default: all)
#     build  compiler and libraries
#     test   build + the real clients/servers the tests drive + sanitizers
#     all    test + fuzzing, lint, sandbox tools and benchmark peers
set -eu
group=${1:-all}
build=(gcc make pkg-config libssl-dev libyaml-dev libjansson-dev zlib1g-dev libc-ares-dev
       libseccomp-dev)
test=(python3 python3-pytest python3-pytest-xdist python3-websockets python3-requests python3-httpx curl openssl git nginx-light procps iproute2
      clang libclang-rt-14-dev)
extra=(llvm cppcheck clang-format node-llhttp node-undici bubblewrap nftables socat mitmproxy squid-openssl
       docker.io containerd runc busybox-static podman conmon containernetworking-plugins)
case "$group" in
  build) pkgs=("${build[@]}") ;;
  test) pkgs=("${build[@]}" "${test[@]}") ;;
  all) pkgs=("${build[@]}" "${test[@]}" "${extra[@]}") ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  [ "$group" = all ] && echo "deps: all ${#pkgs[@]} packages already installed"
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "deps: missing packages and not root: ${missing[*]}" >&2
    echo "deps: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
