#!/usr/bin/env bash
# Runs ingot's fuzz targets with cargo-fuzz (libFuzzer + AddressSanitizer).
#
#   tests/fuzz/run.sh [LIMIT] [TARGET ...]
#
# LIMIT is -max_total_time=S (seconds per target) or -runs=N (executions per target);
# default -max_total_time=30, which is what CI runs. With no TARGET, every target runs
# in turn. Each target reads its committed seeds (tests/fuzz/seeds/TARGET) and grows a
# git-ignored working corpus (tests/fuzz/corpus/TARGET); a crash stops the run with the
# input saved under tests/fuzz/artifacts/TARGET/ and a non-zero exit.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly-capable compiler:
# RUSTC_BOOTSTRAP=1 lets the stable toolchain pass the sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/../.."
limit=${1:--max_total_time=30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gguf safetensors tokenizer_json tokenize chat_template)
export RUSTC_BOOTSTRAP=1
# malloc_context_size=0: no stack trace per allocation (3x faster here; a report still
# shows where the bad access happened). One rayon thread: the forward passes fork no
# workers, so two targets can run side by side on two cores.
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0}
export RAYON_NUM_THREADS=1
cargo fuzz build --fuzz-dir tests/fuzz -O >&2
for t in "${targets[@]}"; do
  mkdir -p "tests/fuzz/corpus/$t" "tests/fuzz/artifacts/$t"
  echo "== fuzz $t ($limit)" >&2
  "tests/fuzz/target/x86_64-unknown-linux-gnu/release/$t" "$limit" -rss_limit_mb=4096 \
    -artifact_prefix="tests/fuzz/artifacts/$t/" -print_final_stats=1 \
    "tests/fuzz/corpus/$t" "tests/fuzz/seeds/$t" 2>&1 \
    | grep --line-buffered -E "^#[0-9]+[[:space:]]+(INITED|DONE)|ERROR|SUMMARY|panicked|stat::number_of_executed_units|stat::peak_rss_mb|Test unit written" >&2
done
