#!/usr/bin/env bash
# Installs the Debian 12 packages DeepZine needs, only those missing; quiet when all are there.
set -euo pipefail
PACKAGES=(
  build-essential cmake pkg-config ccache
  libtorch-dev libyaml-cpp-dev libhdf5-dev libcurl4-openssl-dev nlohmann-json3-dev libopencv-dev
  libpoppler-private-dev libpoppler-cpp-dev libcli11-dev libspdlog-dev libfmt-dev libpng-dev libjpeg-dev libssl-dev
  libcpp-httplib-dev libgtest-dev libgmock-dev libbenchmark-dev libgloo-dev libdeflate-dev libblosc-dev libisal-dev libplplot-dev libxml2-dev libzip-dev
  patchelf r-doc-pdf poppler-utils python3-torch python3-numpy python3-h5py python3-tables python3-pil
  chromium  # headless, for the report screenshot test
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
