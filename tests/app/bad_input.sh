#!/usr/bin/env bash
# Bad input must give a one-line error naming the key or file, exit code 2, on every rank, quickly
# (no hang), and write nothing.
# Usage: bad_input.sh <uoe binary> <repo root>
set -uo pipefail
uoe=$1
root=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
config="$root/configs/tiny/pretrain.yaml"
failures=0

expect_error() {  # expect_error <ranks> <expected text> <args...>
  local np=$1 expected=$2
  shift 2
  local out="$work/out.txt"
  timeout 60 mpiexec -np "$np" --oversubscribe "$uoe" "$@" > "$out" 2>&1
  local code=$?
  local lines
  lines=$(grep -c "error:" "$out")
  if [[ $code -ne 2 ]] || ! grep -q -- "$expected" "$out" || [[ $lines -ne 1 ]]; then
    echo "FAIL: uoe $* (np=$np): exit $code, $lines error lines, expected '$expected' in:"
    cat "$out"
    failures=$((failures + 1))
  else
    echo "ok: np=$np '$expected' -> $(grep 'error:' "$out")"
  fi
}

o="output_dir=$work/run"
expect_error 2 "model.num_experts=8 is not divisible by parallel.ep_size=3" pretrain "$config" "$o" parallel.ep_size=3
expect_error 2 "parallel.ep_size=4 does not divide the world size 2" pretrain "$config" "$o" parallel.ep_size=4 model.num_experts=4
expect_error 4 "parallel.ep_size=3 does not divide the world size 4" pretrain "$config" "$o" parallel.ep_size=3 model.num_experts=6
expect_error 1 "did you mean 'learning_rate'" pretrain "$config" "$o" learning_rat=1
expect_error 2 "'model.hidden_size': expected an integer" pretrain "$config" "$o" model.hidden_size=abc
expect_error 2 "cannot read config file '/nonexistent.yaml'" pretrain /nonexistent.yaml
expect_error 1 "max_steps must be >= 1" pretrain "$config" "$o" max_steps=0
expect_error 1 "unknown command 'pretrian'" pretrian "$config"
expect_error 1 "must look like dotted.key=value" pretrain "$config" "$o" =3

if [[ -e "$work/run" ]]; then
  echo "FAIL: a rejected run created its output directory"
  failures=$((failures + 1))
fi
if ((failures)); then
  echo "$failures bad-input case(s) failed"
  exit 1
fi
echo "all bad-input cases ok"
