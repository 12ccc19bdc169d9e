#!/usr/bin/env bash
# ingot against llama.cpp and OpenBLAS on this machine, side by side, in one run.
#
#   benches/compare.sh [RUNS]     # RUNS rounds (default 5), medians
#
# - llama.cpp (built by ../shared/tools/llama-cpp-anchor.sh): llama-bench pp512, tg128 and
#   tg128 @ d512 on SmolLM2-135M-Instruct Q4_1 and on Gemma 3 270M Q4_K_M, 2 threads, one
#   repetition per round;
# - ingot: `generate` on the same files, 2 threads, the tok/s of its final stderr line: a
#   512-token prompt then 128 tokens with --ignore-eos (prefill, and decode at depth 512;
#   also on 1 thread for SmolLM2), and a one-digit prompt then 128 tokens (decode from an
#   empty context, as tg128);
# - the instruction set each side ran: ingot's from `generate` (INGOT_ISA forces one),
#   llama.cpp's from its build (LLAMA_CPP_ANCHOR_ISA=avx2 builds it without AVX-512);
# - sgemm 1024³: ingot's criterion bench `sgemm/1024x1024x1024` against numpy (OpenBLAS,
#   2 threads; its AVX2 kernels when INGOT_ISA=avx2) in a venv under target/;
# - tokenizer: encoding ~1 MB of prose, ingot's `tokenizer/encode/1MB` against HF
#   `tokenizers` (Python, one call, parallelism off) with SmolLM2's pipeline.
# Prints a table of figures and ratios. Needs python3 with pip (for numpy) and a C/C++
# toolchain for the llama.cpp build (the anchor script's first run takes ~15 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
anchor=../shared/tools/llama-cpp-anchor.sh
model=$(weights/fetch.sh)
gemma=$(weights/fetch.sh gemma3)
threads=2

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "== building ingot" >&2
cargo build --release --quiet --example generate --example roofline

# Both tokenizers split digits one per token: 512 digits are a 512-token prompt for
# SmolLM2 (no BOS), 511 digits for Gemma (BOS first).
digits() { python3 -c "print(''.join(str(i * 7 % 10) for i in range($1)), end='')"; }
prompt=target/compare-prompt-512.txt; digits 512 > "$prompt"
gprompt=target/compare-prompt-gemma-512.txt; digits 511 > "$gprompt"
short=target/compare-prompt-1.txt; digits 1 > "$short"
for mp in "$model:$prompt" "$gemma:$gprompt"; do
  n=$(cargo run --release --quiet --example tokenize -- --model "${mp%%:*}" < "${mp#*:}" | wc -w)
  [ "$n" = 512 ] || { echo "${mp#*:} is $n tokens for ${mp%%:*}, expected 512" >&2; exit 1; }
done

echo "== this machine's limits (examples/roofline)" >&2
roof=$(target/release/examples/roofline --threads $threads --model "$model" --model "$gemma")
read -r _ _ lim_tg0 lim_tgd lim_pp <<< "$(echo "$roof" | grep "^limits $model ")"
read -r _ _ glim_tg0 glim_tgd glim_pp <<< "$(echo "$roof" | grep "^limits $gemma ")"
fma_peak=$(echo "$roof" | awk -v isa="${INGOT_ISA:-}" '/^  (avx512|avx2|neon|scalar) / {p[$1] = $2} /kernels. isa:/ {k = $NF} END {print p[isa != "" ? isa : k]}')
int_peak=$(echo "$roof" | awk -v isa="${INGOT_ISA:-}" '/^  (avx512|avx2|neon|scalar) / {p[$1] = $3} /kernels. isa:/ {k = $NF} END {print p[isa != "" ? isa : k]}')

# The two sides alternate, one run of each setting per round, so that both meet the same
# neighbours on this shared machine (the VM's speed drifts by tens of percent over
# minutes; one block of llama.cpp runs then one of ingot's turned that drift into the
# ratios). Medians over the rounds.
echo "== llama.cpp llama-bench and ingot generate, alternating, $runs rounds" >&2
llama() { # model -> "pp512 tg128 tg128@d512", one repetition of each
  local a b
  a=$("$anchor" bench "$1" $threads 512 128 -r 1 2>/dev/null)
  b=$("$anchor" bench "$1" $threads 0 128 -d 512 -r 1 2>/dev/null)
  echo "$(echo "$a" | awk -F'|' '/pp512/ {split($8, x, " "); print x[1]}')" \
       "$(echo "$a" | awk -F'|' '/ tg128 / {split($8, x, " "); print x[1]}')" \
       "$(echo "$b" | awk -F'|' '/tg128 @ d512/ {split($8, x, " "); print x[1]}')"
}
gen() { # model prompt threads -> "prefill decode isa", one run
  target/release/examples/generate --model "$1" --prompt-file "$2" --max-tokens 128 --ignore-eos --threads "$3" 2>&1 >/dev/null \
    | awk -F'|' '/prefill:/ {split($2, p, ","); split($3, d, ","); sub(/ tok\/s/, "", p[2]); sub(/ tok\/s/, "", d[2]);
                             isa = $4; sub(/ *isa: */, "", isa); print p[2], d[2], isa}'
}
ll=""; gl=""; g2=""; g1=""; g0=""; gg=""; gg0=""
for _ in $(seq "$runs"); do
  ll+="$(llama "$model")"$'\n'
  g2+="$(gen "$model" "$prompt" 2)"$'\n'; g1+="$(gen "$model" "$prompt" 1)"$'\n'
  g0+="$(gen "$model" "$short" 2)"$'\n'
  gl+="$(llama "$gemma")"$'\n'
  gg+="$(gen "$gemma" "$gprompt" 2)"$'\n'; gg0+="$(gen "$gemma" "$short" 2)"$'\n'
done
col() { printf %s "$1" | grep . | awk -v c="$2" '{print $c}' | median; }
ll_pp=$(col "$ll" 1); ll_tg=$(col "$ll" 2); ll_tgd=$(col "$ll" 3)
gl_pp=$(col "$gl" 1); gl_tg=$(col "$gl" 2); gl_tgd=$(col "$gl" 3)
in_pp=$(col "$g2" 1); in_tg=$(col "$g2" 2); in_tg1=$(col "$g1" 2); in_tg0=$(col "$g0" 2)
gi_pp=$(col "$gg" 1); gi_tg=$(col "$gg" 2); gi_tg0=$(col "$gg0" 2)
in_isa=$(echo "$g2" | awk 'NR == 1 {print $3}')
if [ "${LLAMA_CPP_ANCHOR_ISA:-native}" = avx2 ] || ! grep -qw avx512f /proc/cpuinfo; then ll_isa=avx2; else ll_isa=avx512; fi

echo "== sgemm 1024^3: ingot (criterion) and numpy, alternating, 3 rounds" >&2
venv=target/compare-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import numpy, tokenizers, gguf" 2>/dev/null || "$venv/bin/pip" install --quiet numpy tokenizers gguf
# OpenBLAS picks its kernels for this CPU, or its AVX2 (Haswell) ones beside INGOT_ISA=avx2.
blas_core=(-u OPENBLAS_CORETYPE); [ "${INGOT_ISA:-}" = avx2 ] && blas_core=(OPENBLAS_CORETYPE=Haswell)
numpy_gflops() {
  env -u OPENBLAS_L2_SIZE "${blas_core[@]}" OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "$venv/bin/python" - <<'PY'
import time, numpy as np
a = np.random.rand(1024, 1024).astype(np.float32); b = np.random.rand(1024, 1024).astype(np.float32)
for _ in range(20): a @ b
ts = []
t_end = time.perf_counter() + 4.0   # as long as criterion measures
while time.perf_counter() < t_end:
    t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
print(2 * 1024**3 / sorted(ts)[len(ts) // 2] / 1e9)
PY
}
sgs=""; nps=""
for _ in 1 2 3; do
  sgs+="$(cargo bench --quiet --bench gemm -- 'sgemm/1024x1024x1024$' 2>/dev/null | awk '/thrpt:/ {print $4; exit}')"$'\n'
  nps+="$(numpy_gflops)"$'\n'
done
sg=$(printf %s "$sgs" | grep . | median)
np=$(printf %s "$nps" | grep . | median)

echo "== tokenizer: ingot (criterion) and HF tokenizers (Python, one thread, batch off)" >&2
tk=$(cargo bench --quiet --bench tokenizer -- 'tokenizer/encode' 2>/dev/null | awk '/thrpt:/ {print $4; exit}')
hf=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$venv/bin/python" - "$model" <<'PY'
import sys, time
sys.path.insert(0, "tests/reference")
import gguf
from make_goldens import build_tokenizer  # SmolLM2's tokenizer.json pipeline
fields = gguf.GGUFReader(sys.argv[1]).fields
tok = build_tokenizer(*(fields[f"tokenizer.ggml.{k}"].contents() for k in ("tokens", "merges", "token_type")))
unit = open("tests/reference/ppl_text.txt").read()
text = unit * ((1 << 20) // len(unit) + 1)
ts = []
for _ in range(5):
    t = time.perf_counter(); tok.encode(text, add_special_tokens=False); ts.append(time.perf_counter() - t)
print(len(text.encode()) / sorted(ts)[2] / 2**20)
PY
)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
echo
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $threads threads; $(date -u +%F)"
echo "isa: ingot $in_isa, llama.cpp $ll_isa (built for this CPU${LLAMA_CPP_ANCHOR_ISA:+, LLAMA_CPP_ANCHOR_ISA=$LLAMA_CPP_ANCHOR_ISA})"
# Each side's figure as a share of this machine's limit (examples/roofline): decode, bytes
# read per token over the read bandwidth at that size; prefill and sgemm, operations over
# the f32 FMA peak. (ingot's prefill on x86 runs the integer GEMM, whose peak is the int16
# dot peak printed with the limits, so its share of the f32 limit can pass 100%.)
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }
row() { # label ingot reference limit
  printf '%-44s %10s %10s %7s %9s %9s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")" \
    "$([ -n "$4" ] && pct "$2" "$4" || echo -)" "$([ -n "$4" ] && pct "$3" "$4" || echo -)"
}
printf '%-44s %10s %10s %7s %9s %9s\n' "measure" "ingot" "reference" "ratio" "ingot/lim" "ref/lim"
row "prefill 512 tok/s (vs llama.cpp pp512)" "$in_pp" "$ll_pp" "$lim_pp"
row "decode tok/s after 512 (vs tg128 @ d512)" "$in_tg" "$ll_tgd" "$lim_tgd"
row "decode tok/s, empty context (vs tg128)" "$in_tg0" "$ll_tg" "$lim_tg0"
row "decode, --threads 2 vs --threads 1" "$in_tg" "$in_tg1" ""
row "Gemma 3 270M Q4_K_M prefill 512 (vs pp512)" "$gi_pp" "$gl_pp" "$glim_pp"
row "Gemma 3 decode after 512 (vs tg128 @ d512)" "$gi_tg" "$gl_tgd" "$glim_tgd"
row "Gemma 3 decode, empty context (vs tg128)" "$gi_tg0" "$gl_tg" "$glim_tg0"
row "sgemm 1024^3 GFLOP/s (vs numpy/OpenBLAS)" "$sg" "$(printf %.1f "$np")" "$fma_peak"
row "tokenizer encode MiB/s (vs HF tokenizers)" "$tk" "$(printf %.2f "$hf")" ""
echo
echo "limits (tok/s): SmolLM2 decode $lim_tg0 empty, $lim_tgd at 512, prefill $lim_pp;" \
     "Gemma 3 decode $glim_tg0 empty, $glim_tgd at 512, prefill $glim_pp; f32 FMA peak $fma_peak GFLOP/s," \
     "int16 dot peak $int_peak GOP/s"
echo "$roof" | sed -n '1,/^parallel region/p'
