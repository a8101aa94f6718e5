#!/usr/bin/env bash
# Installs every Debian 12 package CALM Studio needs to build, test, train and run.
# Idempotent; run as root (or through sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git
  # core library
  libeigen3-dev libsentencepiece-dev sentencepiece nlohmann-json3-dev libpcre2-dev libicu-dev
  # calm serve (HTTP)
  libcpp-httplib-dev
  # app, plots and Qt Test
  qt6-base-dev qt6-svg-dev libqcustomplot-dev libgl-dev fonts-dejavu-core xvfb xauth
  # training recipes and their tests (Debian's torch is seen by /usr/bin/python3 only)
  python3 python3-torch python3-numpy python3-sentencepiece python3-pytest libopenblas0-pthread
  # a single-node Slurm for scripts/slurm-check.sh (calibration shards as an array job)
  slurm-wlm munge
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
