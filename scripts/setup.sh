#!/usr/bin/env bash
# Installs every Debian package milm needs to build and test. Idempotent: when every
# package is already installed it changes nothing and does not touch the network.
set -euo pipefail

PACKAGES=(
  # toolchain and build
  cmake ninja-build ccache python3 git pkgconf
  # LLVM / MLIR 22 (lit and FileCheck come with llvm-22-tools)
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools clang-22 lld-22 libclang-rt-22-dev
  # serialisation formats
  libflatbuffers-dev flatbuffers-compiler libprotobuf-dev protobuf-compiler libonnx-dev
  # unit tests; valgrind for the memory-error tests of the compiler's passes;
  # Python's regex module for the tokenizer's pre-tokenizer vectors
  libgtest-dev googletest valgrind python3-regex
  # cross targets: AArch64 libc/libstdc++ and user-mode emulation
  qemu-user gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross libstdc++-12-dev-arm64-cross
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${#missing[@]} missing packages: ${missing[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup: done"
