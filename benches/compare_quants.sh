#!/usr/bin/env bash
# Every quantization type llama.cpp's llama-quantize writes, on SmolLM2-135M-Instruct and
# Gemma 3 270M: the files (made by llama.cpp's own tools), then ingot against llama.cpp on
# them, side by side.
#
#   benches/compare_quants.sh files           # make weights/quants/<model>-<TYPE>.gguf
#   benches/compare_quants.sh ppl [RUNS]      # perplexity of every file, ingot and llama.cpp
#   benches/compare_quants.sh speed [RUNS]    # decode and prefill tok/s, ingot and llama.cpp
#   benches/compare_quants.sh all [RUNS]
#
# Environment: MODELS="smollm2 gemma3" and TYPES="Q4_0 IQ2_XXS ..." narrow the run.
#
# files: llama-quantize --allow-requantize on the original files (SmolLM2 Q4_1, Gemma 3
#   Q4_K_M), with an importance matrix (llama-imatrix on the perplexity text, from the F16
#   file) for the i-quants and Q2_K. llama-quantize falls back to other formats for
#   tensors whose rows are not a multiple of 256 (SmolLM2's 576, Gemma's 640), so most
#   files are mixes; the per-tensor types are printed.
# ppl: the perplexity text is the first 48 KB of tests/reference/tokenizers/corpus.txt
#   (prose in many scripts, code, numbers), windows of 512, scored by both engines as
#   llama-perplexity does (ingot's `perplexity --llama-cpp`: whole windows, BOS first, the
#   second half of each scored), so the figures compare directly. "vs F16" is each
#   engine's ratio to its own F16 figure.
# speed: ingot's `generate` (a 512-token prompt, then 128 tokens, medians of RUNS) against
#   llama-bench pp512 and tg128 @ d512 (decode after 512 tokens, as ingot's), 2 threads.
#
# Needs the anchor build of llama.cpp (../shared/tools/llama-cpp-anchor.sh, ~15 minutes
# the first time) and builds its llama-imatrix tool beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
runs=${2:-3}
anchor=../shared/tools/llama-cpp-anchor.sh
threads=2
out=weights/quants
mkdir -p "$out" target
MODELS=${MODELS:-"smollm2 gemma3"}
TYPES=${TYPES:-"F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_1 Q5_0 Q4_K_M Q4_K_S Q4_1 Q4_0 IQ4_NL IQ4_XS \
Q3_K_L Q3_K_M Q3_K_S IQ3_M IQ3_S IQ3_XS IQ3_XXS Q2_K Q2_K_S IQ2_M IQ2_S IQ2_XS IQ2_XXS IQ1_M IQ1_S \
TQ2_0 TQ1_0 Q2_0 Q1_0"}

bin=$("$anchor" bin llama-quantize)
bindir=$(dirname "$bin")
llama() { LD_LIBRARY_PATH="$bindir" "$bindir/$1" "${@:2}"; }
source_of() { case $1 in smollm2) weights/fetch.sh ;; gemma3) weights/fetch.sh gemma3 ;; esac; }
text=target/quants-ppl.txt
head -c 49152 tests/reference/tokenizers/corpus.txt > "$text"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
needs_imatrix() { case $1 in IQ* | Q2_K*) return 0 ;; *) return 1 ;; esac; }

files() {
  if [ ! -x "$bindir/llama-imatrix" ]; then
    echo "== building llama-imatrix beside the anchor build" >&2
    # The anchor script's own cmake (in its venv beside the builds), else the system's.
    cm="$bindir/../../venv/bin/cmake"; [ -x "$cm" ] || cm=cmake
    PATH="$(dirname "$cm"):$PATH" "$cm" --build "$bindir/.." --target llama-imatrix >/dev/null
  fi
  for m in $MODELS; do
    src=$(source_of "$m")
    f16="$out/$m-F16.gguf"
    [ -f "$f16" ] || llama llama-quantize --allow-requantize "$src" "$f16" F16 >/dev/null 2>&1
    imat="$out/$m-imatrix.gguf"
    [ -f "$imat" ] || llama llama-imatrix -m "$f16" -f "$text" -o "$imat" -c 512 -t $threads >/dev/null 2>&1
    for t in $TYPES; do
      dst="$out/$m-$t.gguf"
      [ -f "$dst" ] && continue
      args=(--allow-requantize)
      needs_imatrix "$t" && args+=(--imatrix "$imat")
      if ! llama llama-quantize "${args[@]}" "$src" "$dst" "$t" > "$out/$m-$t.log" 2>&1; then
        echo "$m $t: llama-quantize failed (see $out/$m-$t.log)" >&2
        rm -f "$dst"
        continue
      fi
      # The written types: each tensor line's "converting to T", else its kept type.
      echo "$m $t: $(sed -n 's/.*type = *\([A-Za-z0-9_]*\)\(, converting to \([A-Za-z0-9_]*\)\)\{0,1\}.*/\1 \3/p' "$out/$m-$t.log" \
        | awk '{t = ($2 != "") ? $2 : $1; n[t]++} END {for (t in n) printf "%s x%d ", t, n[t]}')" >&2
    done
  done
}

ppl() {
  cargo build --release --quiet --example perplexity
  printf '%-8s %-8s %12s %12s %12s %12s\n' model type ingot "vs F16" llama.cpp "vs F16"
  for m in $MODELS; do
    base_i=""; base_l=""
    for t in F16 $TYPES; do
      f="$out/$m-$t.gguf"
      [ -f "$f" ] || continue
      [ "$t" = F16 ] && [ -n "$base_i" ] && continue
      pi=$(target/release/examples/perplexity --model "$f" --file "$text" --ctx 512 --llama-cpp --threads $threads 2>/dev/null \
        | awk '/^perplexity:/ {print $2}')
      pl=$(llama llama-perplexity -m "$f" -f "$text" -c 512 -b 512 -t $threads 2>&1 \
        | sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p')
      [ -z "$base_i" ] && { base_i=$pi; base_l=$pl; }
      printf '%-8s %-8s %12s %12s %12s %12s\n' "$m" "$t" "$pi" \
        "$(awk -v a="$pi" -v b="$base_i" 'BEGIN {printf "%+.2f%%", 100 * (a / b - 1)}')" "$pl" \
        "$(awk -v a="$pl" -v b="$base_l" 'BEGIN {printf "%+.2f%%", 100 * (a / b - 1)}')"
    done
  done
}

speed() {
  cargo build --release --quiet --example generate --example tokenize
  digits() { python3 -c "print(''.join(str(i * 7 % 10) for i in range($1)), end='')"; }
  printf '%-8s %-8s %10s %10s %7s %10s %10s %7s\n' model type "ingot pp" "llama pp" ratio "ingot tg" "llama tg" ratio
  echo "(pp: prefill 512 tok/s; tg: decode tok/s after a 512-token prompt)"
  for m in $MODELS; do
    # Digits are one token each in both vocabularies; Gemma adds BOS.
    prompt=target/quants-prompt-$m.txt
    if [ "$m" = gemma3 ]; then digits 511 > "$prompt"; else digits 512 > "$prompt"; fi
    for t in $TYPES; do
      f="$out/$m-$t.gguf"
      [ -f "$f" ] || continue
      # Decode at the same depth on both sides: ingot's follows its 512-token prompt.
      lpp=$("$anchor" bench "$f" $threads 512 0 2>/dev/null | awk -F'|' '/pp512/ {split($8, x, " "); print x[1]}')
      ltg=$("$anchor" bench "$f" $threads 0 128 -d 512 2>/dev/null \
        | awk -F'|' '/tg128 @ d512/ {split($8, x, " "); print x[1]}')
      g=$(for _ in $(seq "$runs"); do
        target/release/examples/generate --model "$f" --prompt-file "$prompt" --max-tokens 128 --ignore-eos \
          --threads $threads 2>&1 >/dev/null \
          | awk -F'|' '/prefill:/ {split($2, p, ","); split($3, d, ","); sub(/ tok\/s/, "", p[2]); sub(/ tok\/s/, "", d[2]); print p[2], d[2]}'
      done)
      ipp=$(echo "$g" | awk '{print $1}' | median)
      itg=$(echo "$g" | awk '{print $2}' | median)
      printf '%-8s %-8s %10s %10s %7s %10s %10s %7s\n' "$m" "$t" "$ipp" "$lpp" \
        "$(awk -v a="$ipp" -v b="$lpp" 'BEGIN {printf "%.2fx", a / b}')" "$itg" "$ltg" \
        "$(awk -v a="$itg" -v b="$ltg" 'BEGIN {printf "%.2fx", a / b}')"
    done
  done
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $threads threads; $(date -u +%F)"
case "$what" in
  files) files ;;
  ppl) ppl ;;
  speed) speed ;;
  all) files; ppl; speed ;;
  *) sed -n '2,25p' "$0"; exit 2 ;;
esac
