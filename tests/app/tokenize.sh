#!/usr/bin/env bash
# `uoe tokenize` end to end: the texts of the tokenizer parity fixtures, as a JSONL corpus, must
# come out with exactly the ids HF tokenizers gave them (tests/tokenizer/data/tokenizers/cases.json);
# bad input must give one error line naming the file and line (or key) and exit code 2.
# Usage: tokenize.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fixtures="$root/tests/tokenizer/data/tokenizers"
py=/usr/bin/python3  # Debian python with h5py (launch/setup.sh)

"$py" - "$fixtures/cases.json" "$work/corpus.jsonl" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1], encoding="utf-8"))
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for text in cases["texts"]:
        if text.strip():  # blank lines are skipped by uoe tokenize
            f.write(json.dumps({"text": text, "source": "fixture"}) + "\n")
PY
cat > "$work/tokenize.yaml" <<YAML
output_dir: $work/run
tokenize:
  tokenizer: $fixtures/llama3_style.json
  input: $work/corpus.jsonl
  output: corpus.h5
  format: jsonl
YAML
mpiexec -np 1 "$uoe" tokenize "$work/tokenize.yaml"
"$py" - "$fixtures/cases.json" "$work/run/corpus.h5" <<'PY'
import json, sys
import h5py
cases = json.load(open(sys.argv[1], encoding="utf-8"))
expected = [c["ids_special"] for t, c in zip(cases["texts"], cases["tokenizers"]["llama3_style"]["cases"])
            if t.strip()]
with h5py.File(sys.argv[2], "r") as f:
    tokens, offsets, mask = f["tokens"][:], f["offsets"][:], f["loss_mask"][:]
    assert f.attrs["format"] in ("uoe-token-dataset", b"uoe-token-dataset")
got = [tokens[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]
assert got == expected, f"{sum(a != b for a, b in zip(got, expected))} of {len(expected)} sequences differ"
assert mask.all()
print(f"ok: {len(got)} sequences, {len(tokens)} tokens equal HF tokenizers' ids")
PY

failures=0
expect_error() {  # expect_error <expected text> <args...>
  local expected=$1
  shift
  local code=0
  timeout 60 mpiexec -np 1 "$uoe" tokenize "$work/tokenize.yaml" output_dir="$work/rejected" "$@" > "$work/out.txt" 2>&1 || code=$?
  if [[ $code -ne 2 ]] || ! grep -q -- "$expected" "$work/out.txt" || [[ $(grep -c "error:" "$work/out.txt") -ne 1 ]]; then
    echo "FAIL: uoe tokenize $*: exit $code, expected '$expected' in:"
    cat "$work/out.txt"
    failures=$((failures + 1))
  else
    echo "ok: $(grep 'error:' "$work/out.txt")"
  fi
}
printf '{"text": "fine"}\n{"text": broken}\n' > "$work/bad.jsonl"
expect_error "$work/bad.jsonl:2: not a valid JSON line" tokenize.input="$work/bad.jsonl"
expect_error "did you mean 'tokenize.format'" tokenize.formt=qa
expect_error "tokenize.format must be text, jsonl or qa" tokenize.format=csv
expect_error "tokenize.input '$work/missing.jsonl' is not a readable file" tokenize.input="$work/missing.jsonl"
echo '{"model": {"type": "WordPiece", "vocab": {}}}' > "$work/wordpiece.json"
expect_error "unsupported model type 'WordPiece' (supported: BPE)" tokenize.tokenizer="$work/wordpiece.json"
if ((failures)); then
  echo "$failures tokenize case(s) failed"
  exit 1
fi
echo "all tokenize cases ok"
