#!/usr/bin/env bash
# Every paper config in configs/ (all of configs/*/ but tiny/ and clusters/) runs end to end with
# 2 ranks on a small random-weight model of its architecture with a tokenizer of the same kind
# (tests/fixtures/mc/<name>, tools/make_mc_fixtures.py):
#  - forget / retain corpora made from text by `uoe tokenize` with that tokenizer.json,
#  - `uoe unlearn <config>` with the config's own keys, overriding only the file paths, output_dir,
#    parallel.ep_size=2, max_steps=2, eval.log_samples=true and, for fixed targets (a layer the
#    small model does not have), unlearn.selection.layer / experts;
#  - the MC log-likelihoods uoe logged before unlearning (samples_before_forget_mc.jsonl) equal
#    lm-evaluation-harness's (lm_eval.json) to 1e-4 and give the same acc; the run trained 2 steps,
#    which moved the MC log-likelihoods, and reports MC accuracies after them.
# Then, once per model, `uoe eval` logs the same per-item results (samples_forget_mc.jsonl), and a
# word vocabulary given for the model's probes is refused (exit 2, naming dataset.tokenizer).
# A config whose model has no small stand-in here fails the test, so a shipped config cannot rot.
# Usage: paper_configs.sh <uoe binary> <repo root>
set -euo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fixtures="$root/tests/fixtures/mc"
py=/usr/bin/python3

run() {  # run <log name> <args...>
  local name=$1
  shift
  timeout 300 mpiexec -np 2 --oversubscribe "$uoe" "$@" > "$work/$name.log" 2>&1 \
    || { echo "FAIL: uoe $* failed:"; tail -30 "$work/$name.log"; exit 1; }
}

fixture_for() {  # <model_name_or_path of a config> -> fixture name
  case "$(basename "$1")" in
    DeepSeek-V2-Lite*) echo deepseek_v2 ;;
    Qwen1.5-MoE-A2.7B*) echo qwen2_moe ;;
    Mixtral-8x7B*) echo mixtral ;;
    *) echo "" ;;
  esac
}

compare_samples() {  # <samples.jsonl> <lm_eval.json> <what>
  "$py" - "$@" <<'PY'
import json, sys
samples_path, reference_path, what = sys.argv[1:4]
reference = json.load(open(reference_path, encoding="utf-8"))
samples = [json.loads(line) for line in open(samples_path, encoding="utf-8")]
assert len(samples) == len(reference["samples"]), (len(samples), len(reference["samples"]))
worst, correct = 0.0, 0
for got, want in zip(samples, sorted(reference["samples"], key=lambda s: s["doc_id"])):
    assert got["doc_id"] == want["doc_id"]
    assert [[got["prompt"], c] for c in got["continuations"]] == want["arguments"], got["doc_id"]
    assert got["continuation_tokens"] == [len(t) for t in want["continuation_tokens"]], got["doc_id"]
    worst = max(worst, max(abs(a - b) for a, b in zip(got["loglikelihoods"], want["loglikelihoods"])))
    assert got["correct"] == (want["acc"] == 1.0), f"item {got['doc_id']}: correct {got['correct']}, lm-eval acc {want['acc']}"
    correct += got["correct"]
acc = correct / len(samples)
print(f"{what}: max |log-likelihood diff| vs lm-eval {worst:.2e}, acc {acc:.4f} (lm-eval {reference['acc']:.4f})")
assert worst <= 1e-4, f"{what}: log-likelihoods differ from lm-eval's by {worst}"
assert acc == reference["acc"], f"{what}: acc {acc} != lm-eval {reference['acc']}"
PY
}

configs=()
for cfg in "$root"/configs/*/*.yaml; do
  case "$cfg" in */configs/tiny/* | */configs/clusters/*) continue ;; esac
  configs+=("$cfg")
done
[[ ${#configs[@]} -ge 5 ]] || { echo "FAIL: expected the paper configs in configs/, found ${#configs[@]}"; exit 1; }

declare -A data_made
failures=0
for cfg in "${configs[@]}"; do
  name=$(basename "$(dirname "$cfg")")_$(basename "$cfg" .yaml)
  model=$(sed -n 's/^model_name_or_path: *\([^ #]*\).*/\1/p' "$cfg")
  fixture=$(fixture_for "$model")
  if [[ -z $fixture ]]; then
    echo "FAIL: $cfg: no small stand-in for model_name_or_path '$model' in this test"
    failures=$((failures + 1))
    continue
  fi
  fx="$fixtures/$fixture"
  d="$work/data_$fixture"
  if [[ -z ${data_made[$fixture]:-} ]]; then
    mkdir -p "$d"
    head -n 3 "$fixtures/corpus.txt" > "$d/forget.txt"
    tail -n 3 "$fixtures/corpus.txt" > "$d/retain.txt"
    for set in forget retain; do
      printf 'output_dir: %s\ntokenize:\n  tokenizer: %s\n  input: %s\n  output: %s.h5\n  format: text\n' \
        "$d/tokenize_$set" "$fx" "$d/$set.txt" "$set" > "$d/tokenize_$set.yaml"
      run "tokenize_${fixture}_$set" tokenize "$d/tokenize_$set.yaml"
    done
    data_made[$fixture]=1
  fi
  overrides=(output_dir="$work/$name" model_name_or_path="$fx" parallel.ep_size=2 max_steps=2
             eval.log_samples=true dataset.forget="$d/tokenize_forget/forget.h5"
             dataset.retain="$d/tokenize_retain/retain.h5" dataset.forget_mc="$fx/mc.jsonl"
             dataset.retain_mc="$fx/mc.jsonl" dataset.tokenizer="$fx/tokenizer.json")
  if grep -q '^ *mode: *fixed' "$cfg"; then
    overrides+=(unlearn.selection.layer=1 "unlearn.selection.experts=[3]")
  fi
  run "unlearn_$name" unlearn "$cfg" "${overrides[@]}"
  "$py" - "$work/$name" "$name" <<'PY'
import json, sys
run, name = sys.argv[1:3]
summary = json.load(open(f"{run}/summary.json"))
assert summary["training"]["steps"] == 2, summary["training"]["steps"]
before, after = ([json.loads(l)["loglikelihoods"] for l in open(f"{run}/samples_{when}_forget_mc.jsonl")]
                 for when in ("before", "after"))
assert before != after, "2 steps of unlearning left every MC log-likelihood unchanged"
for when in ("before", "after"):
    for set in ("forget_mc", "retain_mc"):
        assert 0.0 <= summary[when][set]["accuracy"] <= 1.0, (when, set, summary[when])
print(f"ok: {name}: unlearn ran 2 steps, target {summary['selection']}, forget_mc accuracy "
      f"{summary['before']['forget_mc']['accuracy']:.3f} -> {summary['after']['forget_mc']['accuracy']:.3f}")
PY
  compare_samples "$work/$name/samples_before_forget_mc.jsonl" "$fx/lm_eval.json" "$name (unlearn, before)"
done

# `uoe eval` with the first config of each model; and a word vocabulary is refused.
printf '{"tokens": ["<pad>", "<bos>", "<eos>", "<unk>", "The", "A", "B", "C", "D"]}\n' > "$work/words.json"
for fixture in "${!data_made[@]}"; do
  fx="$fixtures/$fixture"
  cfg=""
  for c in "${configs[@]}"; do
    [[ $(fixture_for "$(sed -n 's/^model_name_or_path: *\([^ #]*\).*/\1/p' "$c")") == "$fixture" ]] && { cfg=$c; break; }
  done
  d="$work/data_$fixture"
  common=(model_name_or_path="$fx" parallel.ep_size=2 dataset.forget_mc="$fx/mc.jsonl"
          dataset.forget="$d/tokenize_forget/forget.h5" dataset.retain="$d/tokenize_retain/retain.h5"
          dataset.retain_mc="$fx/mc.jsonl" unlearn.selection.mode=attribution)
  run "eval_$fixture" eval "$cfg" output_dir="$work/eval_$fixture" eval.log_samples=true \
    dataset.tokenizer="$fx/tokenizer.json" "${common[@]}"
  compare_samples "$work/eval_$fixture/samples_forget_mc.jsonl" "$fx/lm_eval.json" "$fixture (uoe eval)"
  code=0
  timeout 300 mpiexec -np 2 --oversubscribe "$uoe" eval "$cfg" output_dir="$work/words_$fixture" \
    dataset.tokenizer="$work/words.json" "${common[@]}" > "$work/words_$fixture.log" 2>&1 || code=$?
  if [[ $code -ne 2 ]] || ! grep -q "dataset.tokenizer '$work/words.json'.*unknown" "$work/words_$fixture.log"; then
    echo "FAIL: a word vocabulary for $fixture's probes gave exit $code:"
    cat "$work/words_$fixture.log"
    failures=$((failures + 1))
  else
    echo "ok: word vocabulary on $fixture's probes refused: $(grep -m1 'error:' "$work/words_$fixture.log")"
  fi
done
[[ $failures -eq 0 ]] || { echo "$failures failure(s)"; exit 1; }
echo "all ${#configs[@]} paper configs ran"
