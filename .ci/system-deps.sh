#!/usr/bin/env bash
# System packages the tests and the demo need: git, git-lfs, git-http-backend (in git).
# terraform is checked by the Makefile's terraform targets only: the demo never uses it.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v git-lfs >/dev/null || need+=(git-lfs)
command -v unzip >/dev/null || need+=(unzip)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing system packages: ${need[*]} (run as root or install them)" >&2
    exit 1
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
