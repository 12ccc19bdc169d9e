#!/usr/bin/env bash
# The NEON paths under qemu-aarch64: the kernel tests (every SIMD path against its scalar
# reference) and the tiny-model tests (logits against Hugging Face), cross-compiled for
# aarch64. Installs what it needs from Debian's packages (cross gcc, arm64 libc, qemu-user)
# and the rustup target when they are missing. Exits 0 with a loud note if the machine
# cannot have them (no root, or no rust-std for aarch64 and no way to fetch it).
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
skip() { echo "== NEON tests SKIPPED: $*" >&2; exit 0; }

if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null \
   || [ ! -d /usr/aarch64-linux-gnu/lib ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
             gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null; } \
      || skip "could not install the cross compiler and qemu-user"
  else
    skip "aarch64-linux-gnu-gcc or qemu-aarch64 missing, and no root to install them"
  fi
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target" >&2 || skip "rust-std for $target is not installed and cannot be fetched"
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
echo "== NEON: cargo test --target $target under qemu-aarch64" >&2
cargo test --release --target "$target" --lib --test gguf --test hf_models --test llama_cpp_converted
RUSTFLAGS="-D warnings" cargo clippy --release --target "$target" --all-targets
