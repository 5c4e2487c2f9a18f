#!/usr/bin/env bash
# Bad input must give a one-line error naming the key or file, exit code 2, on every rank, quickly
# (no hang), and write nothing. Each case is one row of the table in docs/bad_inputs.md;
# BAD_INPUT_DOC=<file> rewrites that table from what the user actually sees.
# Usage: bad_input.sh <uoe binary> <repo root>
set -uo pipefail
uoe=$1
root=$2
work=$(mktemp -d)   # inputs; nothing may appear here after the fixtures
logs=$(mktemp -d)
trap 'rm -rf "$work" "$logs"' EXIT
config="$root/configs/tiny/pretrain.yaml"
failures=0
rows=()

expect_error() {  # expect_error <ranks> <what is wrong> <expected text> <args...>
  local np=$1 what=$2 expected=$3
  shift 3
  local out="$logs/out.txt"
  timeout 60 mpiexec -np "$np" --oversubscribe "$uoe" "$@" > "$out" 2>&1
  local code=$?
  local lines
  lines=$(grep -c "error:" "$out")
  if [[ $code -ne 2 ]] || ! grep -qF -- "$expected" "$out" || [[ $lines -ne 1 ]]; then
    echo "FAIL: $what: uoe $* (np=$np): exit $code, $lines error lines, expected '$expected' in:"
    cat "$out"
    failures=$((failures + 1))
  else
    echo "ok: np=$np $what -> $(grep 'error:' "$out")"
  fi
  local seen
  local short='s/\(.\)\1\{99,\}/<\1 repeated>/g'  # the table shows a long run of one letter short
  seen=$(grep 'error:' "$out" | head -n 1 | sed -e "s|$work|<tmp>|g" -e "s|$root/||g" -e 's/^\[rank \([0-9]*\)@[^]]*\]/[rank \1@host]/' -e "$short")
  rows+=("| $what | \`$(echo "$*" | sed -e "s|$work|<tmp>|g" -e "s|$root/||g" -e "s|$uoe|uoe|" -e "$short")\` | $np | \`$seen\` |")
}

# Fixtures: the built-in data, a 2-step pretraining with a training checkpoint, broken files.
mpiexec -np 1 "$uoe" make-data "$root/configs/tiny/facts.yaml" output_dir="$work/data" > /dev/null 2>&1 \
  || { echo "make-data failed"; exit 1; }
mpiexec -np 2 --oversubscribe "$uoe" pretrain "$root/configs/tiny/pretrain_facts.yaml" output_dir="$work/pre" \
  max_steps=2 save_steps=2 dataset.train="$work/data/train.h5" dataset.forget= dataset.retain= \
  dataset.forget_mc= dataset.retain_mc= > "$logs/pre.log" 2>&1 || { cat "$logs/pre.log"; exit 1; }
cp -r "$work/pre/checkpoint" "$work/fewer_experts"
sed -i 's/"num_experts": 16/"num_experts": 4/' "$work/fewer_experts/model_config.json"
head -c 4096 /dev/urandom > "$work/random.h5"
echo '{"question": "q", "choices": ["a"' > "$work/truncated.jsonl"
: > "$work/empty.yaml"
echo "learning_rate: [1, 2" > "$work/broken.yaml"
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a' > "$work/truncated_tokenizer.json"
printf '{"model": {"type": "WordPiece", "vocab": {"a": 0}}}' > "$work/wordpiece_tokenizer.json"
printf '{"text": "one"}\n{"text": 2}\n' > "$work/corpus.jsonl"
cat > "$work/tokenize.yaml" <<YAML
output_dir: $work/run
tokenize:
  tokenizer: $root/tests/tokenizer/data/tokenizers/llama3_style.json
  input: $work/corpus.jsonl
YAML
hf=$root/tests/fixtures/hf/mixtral
mkdir -p "$work/hf_truncated" "$work/hf_header" "$work/hf_llama"
cp "$hf/config.json" "$work/hf_truncated/" && head -c 200 "$hf/model.safetensors" > "$work/hf_truncated/model.safetensors"
cp "$hf/config.json" "$work/hf_header/" && { printf '\xff\xff\xff\xff\xff\xff\xff\x7f'; head -c 64 /dev/zero; } > "$work/hf_header/model.safetensors"
cp "$hf/model.safetensors" "$work/hf_llama/" && sed 's/MixtralForCausalLM/LlamaForCausalLM/' "$hf/config.json" > "$work/hf_llama/config.json"
hf5=$root/tests/fixtures/hf5/qwen2_moe  # config.json as transformers 5 writes it
mkdir -p "$work/hf_linear_rope"
cp "$hf5/model.safetensors" "$work/hf_linear_rope/" && sed 's/"rope_type": "default"/"rope_type": "linear", "factor": 2.0/' "$hf5/config.json" > "$work/hf_linear_rope/config.json"
touch "$work/.stamp"

o="output_dir=$work/run"
d=$work/data
unlearn=(unlearn "$root/configs/tiny/unlearn_seuf.yaml" "$o" model_name_or_path="$work/pre/checkpoint"
         dataset.forget="$d/forget.h5" dataset.retain="$d/retain.h5" dataset.forget_mc="$d/forget_mc.jsonl"
         dataset.retain_mc="$d/retain_mc.jsonl" dataset.tokenizer="$d/vocab.json")

# Command line and YAML.
expect_error 1 "unknown command" "unknown command 'pretrian'" pretrian "$config"
expect_error 1 "override without a key" "must look like dotted.key=value" pretrain "$config" "$o" =3
expect_error 2 "missing config file" "cannot read config file '/nonexistent.yaml'" pretrain /nonexistent.yaml
expect_error 1 "YAML syntax error" "broken.yaml" pretrain "$work/broken.yaml"
expect_error 1 "empty config" "output_dir" pretrain "$work/empty.yaml"
expect_error 1 "misspelled key" "did you mean 'learning_rate'" pretrain "$config" "$o" learning_rat=1
expect_error 2 "wrong type" "'model.hidden_size': expected an integer" pretrain "$config" "$o" model.hidden_size=abc
expect_error 2 "fp16 (unsupported precision)" "fp16: true is not supported" pretrain "$config" "$o" fp16=true
expect_error 1 "out-of-range value" "max_steps must be >= 1" pretrain "$config" "$o" max_steps=0
expect_error 1 "out-of-range value" "warmup_ratio must be in [0, 1]" pretrain "$config" "$o" warmup_ratio=2
expect_error 2 "out-of-range value" "ddp_timeout must be > 0 seconds (default 1800), got 0" pretrain "$config" "$o" ddp_timeout=0
expect_error 1 "unknown method" "unlearn.method" "${unlearn[@]}" unlearn.method=gradient_ascent
expect_error 1 "contradictory settings" "set either model_name_or_path or model:, not both" "${unlearn[@]}" model.hidden_size=64
expect_error 2 "contrast selection without a retain set" "unlearn.selection.mode=contrast needs dataset.retain" "${unlearn[@]}" unlearn.selection.mode=contrast dataset.retain=
expect_error 1 "domain forget with an entity count" "facts.forget_entities does not apply with facts.forget_scope=domain" make-data "$root/configs/tiny/facts.yaml" "$o" facts.forget_scope=domain
# Layout.
expect_error 2 "experts not divisible by ep_size" "model.num_experts=8 is not divisible by parallel.ep_size=3" pretrain "$config" "$o" parallel.ep_size=3
expect_error 2 "ep_size does not divide the world" "parallel.ep_size=4 does not divide the world size 2" pretrain "$config" "$o" parallel.ep_size=4 model.num_experts=4
expect_error 4 "ep_size does not divide the world" "parallel.ep_size=3 does not divide the world size 4" pretrain "$config" "$o" parallel.ep_size=3 model.num_experts=6
expect_error 2 "device=cuda without a CUDA build or GPU" "device=cuda:" pretrain "$config" "$o" device=cuda
expect_error 1 "unknown device" "device must be auto, cpu or cuda, got 'gpu'" pretrain "$config" "$o" device=gpu
expect_error 2 "nccl backend on the CPU" "parallel.backend=nccl moves CUDA tensors" pretrain "$config" "$o" parallel.backend=nccl device=cpu
# Memory: the start-up plan refuses before the model is built (a 65536-wide model: ~780 GiB/rank).
expect_error 2 "model cannot fit in memory" "planned peak memory per rank" pretrain "$config" "$o" model.hidden_size=65536
# Files.
expect_error 2 "missing checkpoint" "checkpoint directory '$work/nope' does not exist" "${unlearn[@]}" model_name_or_path="$work/nope"
expect_error 2 "model path the system cannot look up" "File name too long" "${unlearn[@]}" model_name_or_path="$work/$(printf 'n%.0s' {1..5000})"
expect_error 2 "checkpoint with other expert count" "'layers.1.mlp.gate.e_score_correction_bias' has shape [16], expected [4]" "${unlearn[@]}" model_name_or_path="$work/fewer_experts"
expect_error 2 "safetensors file cut short" "hf_truncated/model.safetensors" "${unlearn[@]}" model_name_or_path="$work/hf_truncated" data.vocab_size=64
expect_error 2 "safetensors header length out of range" "hf_header/model.safetensors" "${unlearn[@]}" model_name_or_path="$work/hf_header" data.vocab_size=64
expect_error 2 "unsupported HF architecture" "LlamaForCausalLM" "${unlearn[@]}" model_name_or_path="$work/hf_llama"
expect_error 2 "HF RoPE type uoe does not implement" "rope_parameters.rope_type='linear' is not supported" "${unlearn[@]}" model_name_or_path="$work/hf_linear_rope"
expect_error 2 "missing dataset" "missing.h5" "${unlearn[@]}" dataset.forget="$work/missing.h5"
expect_error 2 "dataset is not HDF5" "'$work/random.h5' is not an HDF5 file" "${unlearn[@]}" dataset.forget="$work/random.h5"
expect_error 2 "malformed JSONL" "truncated.jsonl' line 1" "${unlearn[@]}" dataset.forget_mc="$work/truncated.jsonl"
expect_error 2 "delta is not HDF5" "'$work/random.h5' is not an HDF5 file" "${unlearn[@]}" delta="$work/random.h5"
expect_error 2 "tokenizer.json is not valid JSON" "truncated_tokenizer.json" tokenize "$work/tokenize.yaml" tokenize.tokenizer="$work/truncated_tokenizer.json"
expect_error 2 "unsupported tokenizer model" "WordPiece" tokenize "$work/tokenize.yaml" tokenize.tokenizer="$work/wordpiece_tokenizer.json"
expect_error 2 "JSONL record with a wrong field type" "corpus.jsonl:2" tokenize "$work/tokenize.yaml"
# Output directory and resuming.
expect_error 2 "output_dir holds another run" "output_dir '$work/pre' exists and is not empty" pretrain "$config" output_dir="$work/pre"
expect_error 2 "resume from a non-checkpoint" "resume_from_checkpoint='$work/nope' is not a complete training checkpoint" pretrain "$config" "$o" resume_from_checkpoint="$work/nope"
expect_error 2 "resume with another layout" "it was written with ep_size=2, this run has ep_size=1" pretrain "$root/configs/tiny/pretrain_facts.yaml" output_dir="$work/pre" resume_from_checkpoint=auto parallel.ep_size=1 dataset.train="$d/train.h5"

if [[ -n $(find "$work" -newer "$work/.stamp") ]]; then
  echo "FAIL: a rejected run wrote files: $(find "$work" -newer "$work/.stamp")"
  failures=$((failures + 1))
fi
if [[ -n ${BAD_INPUT_DOC:-} ]]; then
  {
    echo "# Bad input: what the user sees"
    echo
    echo 'Every row is a case of `tests/app/bad_input.sh` (ctest `app_bad_input`), which checks exit code 2,'
    echo 'exactly one error line (from rank 0, whatever the number of ranks), no hang, and that nothing'
    echo 'was written. This table is what that test saw; regenerate it with'
    echo '`BAD_INPUT_DOC=docs/bad_inputs.md bash tests/app/bad_input.sh build/uoe .`'
    echo '(`<tmp>`: the test'"'"'s temporary directory).'
    echo
    echo "| what is wrong | command | ranks | what the user sees (exit code 2) |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
  } > "$BAD_INPUT_DOC.tmp" && mv "$BAD_INPUT_DOC.tmp" "$BAD_INPUT_DOC"
fi
if ((failures)); then
  echo "$failures bad-input case(s) failed"
  exit 1
fi
echo "all ${#rows[@]} bad-input cases ok"
