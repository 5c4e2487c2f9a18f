#!/usr/bin/env bash
# Expert specialisation study on the built-in domain-forget data (issue 19 parts 4-5 at tiny
# scale): 1. pretrain the 16-expert tiny MoE (configs/tiny/balanced) once per load-balancing
# setting of a small grid and choose one on held-out validation data (choose_balancing.py);
# 2. report, before any unlearning, how concentrated the attribution is for forget and retain
# (tools/attribution_concentration.py); 3. unlearn the forget domain with GA, NPO and RMU through
# the attributed expert (SEUF), a random other expert and the full model, over seeds and a
# learning-rate grid per variant; 4. write RESULTS.md (report.py).
#
# Usage (from anywhere): benchmarks/specialisation/run.sh
# Settings (environment):
#   NP              MPI ranks (2; parallel.ep_size = NP)
#   SETTINGS        balancing grid, NAME=OVERRIDES;... (see GRID below)
#   PRETRAIN_STEPS  pretraining steps of each grid model            (300)
#   VIOLATION_MAX   choice rule threshold on the end-of-training
#                   mean max_violation (choose_balancing.py)         (0.5)
#   MODELS          models unlearned: "chosen" and/or "none"        ("chosen"; add none for the
#                   unbalanced contrast, doubling the unlearning time)
#   SEEDS ("1 2 3")  METHODS ("ga npo rmu")  VARIANTS ("seuf random full")
#   LRS_EXPERT      rates of the SEUF and random-expert rows        ("1e-3 2e-3 3e-3 1e-2")
#   LRS_FULL        rates of the full-model rows                    ("3e-5 1e-4 3e-4 1e-3")
#   STEPS           unlearning steps per row                        (30)
#   UTILITY_KEEP    rate rule: keep retain answer prob >= this x before (0.9; report.py)
#   OUT (runs/specialisation)  REPORT (benchmarks/specialisation)  UOE (build/uoe)
# Finished models, attributions and rows are reused when present (delete OUT to start over).
set -euo pipefail
cd "$(dirname "$0")/../.."
NP=${NP:-2}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-300}
VIOLATION_MAX=${VIOLATION_MAX:-0.5}
MODELS=${MODELS:-chosen}
SEEDS=${SEEDS:-"1 2 3"}
METHODS=${METHODS:-"ga npo rmu"}
VARIANTS=${VARIANTS:-"seuf random full"}
LRS_EXPERT=${LRS_EXPERT:-"1e-3 2e-3 3e-3 1e-2"}
LRS_FULL=${LRS_FULL:-"3e-5 1e-4 3e-4 1e-3"}
STEPS=${STEPS:-30}
UTILITY_KEEP=${UTILITY_KEEP:-0.9}
OUT=${OUT:-runs/specialisation}
REPORT=${REPORT:-benchmarks/specialisation}
UOE=${UOE:-build/uoe}
PY=${PY:-/usr/bin/python3}  # needs h5py and numpy
# name=overrides (space-separated); every setting states all three balancing keys.
GRID=${SETTINGS:-"none=router_aux_loss_coef=0 moe_aux_loss_scope=micro_batch moe_router_bias_update_rate=0;\
aux1e-3_micro=router_aux_loss_coef=1e-3 moe_aux_loss_scope=micro_batch moe_router_bias_update_rate=0;\
aux1e-2_micro=router_aux_loss_coef=1e-2 moe_aux_loss_scope=micro_batch moe_router_bias_update_rate=0;\
aux1e-3_global=router_aux_loss_coef=1e-3 moe_aux_loss_scope=global_batch moe_router_bias_update_rate=0;\
aux1e-2_global=router_aux_loss_coef=1e-2 moe_aux_loss_scope=global_batch moe_router_bias_update_rate=0;\
bias1e-3=router_aux_loss_coef=0 moe_aux_loss_scope=micro_batch moe_router_bias_update_rate=1e-3"}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
CONFIGS=configs/tiny/balanced
DATA=$OUT/data
start=$(date +%s)
source benchmarks/run_uoe.sh  # builds $UOE when missing; run_uoe
mkdir -p "$REPORT"
echo "# $(date -u +%FT%TZ) run.sh NP=$NP PRETRAIN_STEPS=$PRETRAIN_STEPS MODELS='$MODELS' SEEDS='$SEEDS' METHODS='$METHODS' VARIANTS='$VARIANTS' LRS_EXPERT='$LRS_EXPERT' LRS_FULL='$LRS_FULL' STEPS=$STEPS" >> "$COMMANDS"
DATASETS=(dataset.forget="$DATA/forget.h5" dataset.retain="$DATA/retain.h5"
  dataset.forget_mc="$DATA/forget_mc.jsonl" dataset.retain_mc="$DATA/retain_mc.jsonl"
  dataset.tokenizer="$DATA/vocab.json")

[[ -f $DATA/validation.h5 ]] || run_uoe make_data make-data "$CONFIGS/facts.yaml" output_dir="$DATA" \
  overwrite_output_dir=true

names=()
IFS=';' read -r -a settings <<< "$GRID"
for setting in "${settings[@]}"; do
  name=${setting%%=*}
  read -r -a overrides <<< "${setting#*=}"
  names+=("$name")
  dir=$OUT/grid/$name
  if [[ ! -f $dir/checkpoint/COMPLETE ]]; then
    echo "== pretraining with balancing '$name' ($PRETRAIN_STEPS steps)"
    run_uoe "pretrain_$name" pretrain "$CONFIGS/pretrain.yaml" output_dir="$dir" overwrite_output_dir=true \
      max_steps="$PRETRAIN_STEPS" parallel.ep_size="$NP" dataset.train="$DATA/train.h5" "${DATASETS[@]}" \
      "${overrides[@]}"
  fi
  [[ -f $dir/validation/summary.json ]] || run_uoe "validation_$name" eval "$CONFIGS/unlearn.yaml" \
    model_name_or_path="$dir/checkpoint" output_dir="$dir/validation" overwrite_output_dir=true \
    parallel.ep_size="$NP" dataset.forget="$DATA/validation.h5" dataset.retain= dataset.forget_mc= \
    dataset.retain_mc=
  [[ -f $dir/attribution/attribution.h5 ]] || run_uoe "attribute_$name" attribute "$CONFIGS/unlearn.yaml" \
    model_name_or_path="$dir/checkpoint" output_dir="$dir/attribution" overwrite_output_dir=true \
    parallel.ep_size="$NP" "${DATASETS[@]}"
done

echo "== choosing the balancing setting on validation data"
chosen=$("$PY" benchmarks/specialisation/choose_balancing.py --grid "$OUT/grid" --names "${names[@]}" \
  --violation-max "$VIOLATION_MAX" --out "$OUT/balancing.json")
echo "chosen: $chosen"
concentration=()
for name in "${names[@]}"; do concentration+=("$name=$OUT/grid/$name/attribution/attribution.h5"); done
"$PY" tools/attribution_concentration.py --json "$OUT/concentration.json" "${concentration[@]}" \
  > "$OUT/concentration.md"

row() {  # row <model (grid setting)> <name> <seed> <lr> [overrides...]
  local model=$1 name=$2 seed=$3 lr=$4
  shift 4
  local dir=$OUT/unlearn/$model/$name/lr$lr/seed$seed
  [[ -f $dir/summary.json ]] && return 0
  echo "== $model $name lr $lr seed $seed"
  run_uoe "unlearn_${model}_${name}_lr${lr}_seed$seed" unlearn "$CONFIGS/unlearn.yaml" \
    model_name_or_path="$OUT/grid/$model/checkpoint" output_dir="$dir" overwrite_output_dir=true \
    seed="$seed" max_steps="$STEPS" parallel.ep_size="$NP" learning_rate="$lr" "${DATASETS[@]}" "$@"
}
studied=()
for model in $MODELS; do
  case $model in
    chosen) model=$chosen ;;
    none) ;;
    *) echo "error: MODELS: unknown model '$model' (chosen | none)" >&2; exit 2 ;;
  esac
  [[ " ${studied[*]} " == *" $model "* ]] && continue
  studied+=("$model")
  attribution=$OUT/grid/$model/attribution/attribution.h5
  for seed in $SEEDS; do
    # The random expert: seeded, uniform over every (MoE layer, expert) but the attributed one.
    read -r rlayer rexpert < <("$PY" benchmarks/specialisation/random_expert.py "$attribution" "$seed")
    for method in $METHODS; do
      for variant in $VARIANTS; do
        case $variant in
          seuf) for lr in $LRS_EXPERT; do row "$model" "${method}_seuf" "$seed" "$lr" unlearn.method=$method; done ;;
          random) for lr in $LRS_EXPERT; do
                    row "$model" "${method}_random" "$seed" "$lr" unlearn.method=$method \
                      unlearn.selection.mode=fixed unlearn.selection.layer="$rlayer" \
                      "unlearn.selection.experts=[$rexpert]"
                  done ;;
          full) for lr in $LRS_FULL; do
                  row "$model" "${method}_full" "$seed" "$lr" unlearn.method=$method \
                    unlearn.selection.mode=full unlearn.anchor_weight=0
                done ;;
          *) echo "error: unknown variant '$variant' (seuf | random | full)" >&2; exit 2 ;;
        esac
      done
    done
  done
done

echo "== report"
# Wall time of every call that has worked on this OUT (finished rows are reused across calls).
wall=$(( $(cat "$OUT/wall_seconds" 2> /dev/null || echo 0) + $(date +%s) - start ))
echo "$wall" > "$OUT/wall_seconds"
"$PY" benchmarks/specialisation/report.py --runs "$OUT" --out "$REPORT" --models "${studied[@]}" \
  --chosen "$chosen" --utility-keep "$UTILITY_KEEP" --steps "$STEPS" --pretrain-steps "$PRETRAIN_STEPS" \
  --np "$NP" --wall-seconds "$wall"
