#!/usr/bin/env bash
# TOFU benchmark: each unlearning method as the full-model baseline, with SEUF (attribution-
# selected expert + router anchor) and with a random expert, plus anchor-weight and top-M
# ablations for GA; writes RESULTS.md, results.json and figures (benchmarks/tofu/report.py).
#
# Usage (from anywhere): benchmarks/tofu/run.sh
# Settings (environment):
#   TOFU_DATA   TOFU JSON-lines directory            (../shared/data/tofu; fetch_tofu.sh gets it)
#   TOFU_SCALE  full | small | tiny (select_subset.py) (small: what fits about an hour on 2 cores)
#   NP          MPI ranks                            (2; parallel.ep_size follows, 1 for NP=1)
#   SEEDS       unlearning seeds of the main rows    ("1 2 3"; seeds run outermost; SEEDS=""
#               or METHODS="": no rows, the models are trained and evaluated only)
#   METHODS     ("ga gdiff npo simnpo rmu")   VARIANTS ("full seuf random")
#   ABLATIONS   1: GA anchor 0 / 100 and top-3 (seed 1)  (1)
#   EVAL_FORGET / EVAL_RETAIN  questions of forget10_perturbed / retain_perturbed evaluated
#               (200 / 100: the first 10 / 5 authors, to fit the CPU budget; 0: all 400)
#   STEPS       unlearning steps per row             (25)
#   LR_FULL     learning rate of full-model rows     (3e-4)  chosen once, see lr_sweep.md
#   LR_EXPERT   learning rate of expert rows         (3e-3)  (SEUF, random expert, ablations)
#   LR_GRID_FULL / LR_GRID_EXPERT  space-separated rate grids of the full-model / SEUF and random-
#               expert rows (default: LR_FULL / LR_EXPERT alone); report.py picks one rate per method
#               and variant by the rule it writes into RESULTS.md (rows: unlearn/<row>/lr<rate>/seed<k>)
#   UTILITY_KEEP  that rule's utility floor, x the target model's model utility (0.9)
#   ATTRIBUTION_BASELINE  NAME=results.json of an earlier run.sh (e.g. unbalanced=benchmarks/tofu/
#               full_scale/results.json) whose attribution concentration the report compares with
#   EPOCHS      training epochs of the two models    (60)
#   PRETRAIN_CONFIG  the models' config (benchmarks/tofu/configs/pretrain.yaml; pretrain_balanced.yaml:
#               16 finer experts with load balancing, issue 19)
#   SAVE_STEPS  training-checkpoint interval of the two models (500): an interrupted run.sh
#               (Ctrl-C / SIGTERM / a killed job) continues their training from the newest one
#   OUT         run directory                        (runs/tofu)
#   REPORT      where RESULTS.md, results.json, figures go (benchmarks/tofu)
#   UOE         the uoe binary                       (build/uoe, built when missing)
# Trained models, tokenized data and finished rows are reused when present.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${TOFU_DATA:-../shared/data/tofu}
SCALE=${TOFU_SCALE:-small}
NP=${NP:-2}
SEEDS=${SEEDS-"1 2 3"}  # set but empty (SEEDS="", METHODS="" or VARIANTS=""): no rows
METHODS=${METHODS-"ga gdiff npo simnpo rmu"}
VARIANTS=${VARIANTS-"full seuf random"}
ABLATIONS=${ABLATIONS:-1}
STEPS=${STEPS:-25}
EVAL_FORGET=${EVAL_FORGET:-200}
EVAL_RETAIN=${EVAL_RETAIN:-100}
LR_FULL=${LR_FULL:-3e-4}
LR_EXPERT=${LR_EXPERT:-3e-3}
LR_GRID_FULL=${LR_GRID_FULL:-$LR_FULL}
LR_GRID_EXPERT=${LR_GRID_EXPERT:-$LR_EXPERT}
UTILITY_KEEP=${UTILITY_KEEP:-0.9}
ATTRIBUTION_BASELINE=${ATTRIBUTION_BASELINE:-}
EPOCHS=${EPOCHS:-60}
PRETRAIN_CONFIG=${PRETRAIN_CONFIG:-benchmarks/tofu/configs/pretrain.yaml}
SAVE_STEPS=${SAVE_STEPS:-500}
OUT=${OUT:-runs/tofu}
REPORT=${REPORT:-benchmarks/tofu}
UOE=${UOE:-build/uoe}
PY=${PY:-/usr/bin/python3}  # needs matplotlib for the figures
EP=$((NP >= 2 ? 2 : 1))
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
CONFIGS=benchmarks/tofu/configs
start=$(date +%s)
for file in full.json forget10_perturbed.json retain_perturbed.json; do
  [[ -r $DATA/$file ]] || { echo "error: $DATA/$file missing (set TOFU_DATA or run benchmarks/tofu/fetch_tofu.sh)" >&2; exit 2; }
done
source benchmarks/run_uoe.sh  # builds $UOE when missing; run_uoe
mkdir -p "$REPORT"
echo "# $(date -u +%FT%TZ) run.sh with TOFU_SCALE=$SCALE NP=$NP SEEDS='$SEEDS' METHODS='$METHODS' VARIANTS='$VARIANTS' ABLATIONS=$ABLATIONS STEPS=$STEPS EVAL=$EVAL_FORGET/$EVAL_RETAIN LR_GRID_FULL='$LR_GRID_FULL' LR_GRID_EXPERT='$LR_GRID_EXPERT' EPOCHS=$EPOCHS PRETRAIN_CONFIG=$PRETRAIN_CONFIG UTILITY_KEEP=$UTILITY_KEEP OUT=$OUT REPORT=$REPORT ATTRIBUTION_BASELINE=$ATTRIBUTION_BASELINE" >> "$COMMANDS"

echo "== data ($SCALE) from $DATA"
"$PY" benchmarks/tofu/select_subset.py "$DATA" "$SCALE" "$OUT/data/json" "$EVAL_FORGET" "$EVAL_RETAIN"
tokenize() {  # tokenize <input jsonl> <output name> <answer key>
  [[ -f $OUT/data/$2.h5 ]] && return 0
  run_uoe "tokenize_$2" tokenize "$CONFIGS/tokenize.yaml" output_dir="$OUT/data" overwrite_output_dir=true \
    tokenize.input="$OUT/data/json/$1.jsonl" tokenize.output="$2.h5" tokenize.answer_key="$3"
}
tokenize train_full train_full answer
tokenize train_retain train_retain answer
tokenize forget_train forget_train answer
for set in forget retain; do
  tokenize ${set}_eval ${set}_answer answer
  tokenize ${set}_eval ${set}_paraphrased paraphrased_answer
  tokenize ${set}_eval ${set}_perturbed perturbed_answer
done
TOFU_SETS=(tofu.tokenizer=benchmarks/tofu/tokenizer)
for set in forget retain; do
  for kind in answer paraphrased perturbed; do TOFU_SETS+=(tofu.${set}_$kind="$OUT/data/${set}_$kind.h5"); done
done

for model in retain full; do  # the retain model first: its forget-set truth ratios are the reference
  if [[ ! -f $OUT/models/$model/checkpoint/COMPLETE ]]; then
    echo "== training the $model model ($EPOCHS epochs on train_$model)"
    run_uoe "pretrain_$model" pretrain "$PRETRAIN_CONFIG" output_dir="$OUT/models/$model" \
      overwrite_output_dir=true dataset.train="$OUT/data/train_$model.h5" num_train_epochs="$EPOCHS" \
      parallel.ep_size=$EP save_steps="$SAVE_STEPS" save_total_limit=1 resume_from_checkpoint=auto
  fi
  if [[ ! -f $OUT/models/$model/eval/summary.json ]]; then
    echo "== TOFU evaluation of the $model model"
    reference=()
    [[ $model == full ]] && reference=(tofu.reference="$OUT/models/retain/eval/summary.json")
    run_uoe "eval_$model" eval "$CONFIGS/unlearn.yaml" model_name_or_path="$OUT/models/$model/checkpoint" \
      output_dir="$OUT/models/$model/eval" overwrite_output_dir=true dataset.forget= dataset.retain= \
      parallel.ep_size=$EP "${TOFU_SETS[@]}" tofu.reference= "${reference[@]}"
  fi
done

if [[ ! -f $OUT/attribution/attribution_retain.h5 ]]; then  # the Figure 2 analogue
  run_uoe attribute attribute "$CONFIGS/unlearn.yaml" model_name_or_path="$OUT/models/full/checkpoint" \
    output_dir="$OUT/attribution" overwrite_output_dir=true parallel.ep_size=$EP \
    dataset.forget="$OUT/data/forget_train.h5" dataset.retain="$OUT/data/retain_answer.h5"
fi

rows_requested=0
row() {  # row <name> <seed> <learning rate> [overrides...]
  local name=$1 seed=$2 lr=$3
  shift 3
  rows_requested=$((rows_requested + 1))
  local dir=$OUT/unlearn/$name/lr$lr/seed$seed
  [[ -f $dir/summary.json ]] && return 0
  echo "== $name lr $lr seed $seed"
  run_uoe "unlearn_${name}_lr${lr}_seed$seed" unlearn "$CONFIGS/unlearn.yaml" \
    model_name_or_path="$OUT/models/full/checkpoint" output_dir="$dir" overwrite_output_dir=true \
    seed="$seed" max_steps="$STEPS" parallel.ep_size=$EP dataset.forget="$OUT/data/forget_train.h5" \
    dataset.retain="$OUT/data/retain_answer.h5" "${TOFU_SETS[@]}" \
    tofu.reference="$OUT/models/retain/eval/summary.json" learning_rate="$lr" "$@"
}
for seed in $SEEDS; do
  for method in $METHODS; do
    for variant in $VARIANTS; do
      case $variant in
        full) for lr in $LR_GRID_FULL; do
                row "${method}_full" "$seed" "$lr" unlearn.method=$method unlearn.selection.mode=full \
                  unlearn.anchor_weight=0
              done ;;
        seuf) for lr in $LR_GRID_EXPERT; do row "${method}_seuf" "$seed" "$lr" unlearn.method=$method; done ;;
        random) for lr in $LR_GRID_EXPERT; do
                  row "${method}_random" "$seed" "$lr" unlearn.method=$method unlearn.selection.mode=random
                done ;;
        *) echo "error: unknown variant '$variant' (full | seuf | random)" >&2; exit 2 ;;
      esac
    done
  done
  if [[ $ABLATIONS == 1 && $seed == "${SEEDS%% *}" ]]; then  # at LR_EXPERT
    row ga_seuf_anchor0 "$seed" "$LR_EXPERT" unlearn.method=ga unlearn.anchor_weight=0
    row ga_seuf_anchor100 "$seed" "$LR_EXPERT" unlearn.method=ga unlearn.anchor_weight=100
    row ga_seuf_top3 "$seed" "$LR_EXPERT" unlearn.method=ga unlearn.selection.top_m=3
  fi
done

if (( rows_requested == 0 )); then echo "== no rows requested (models only): no report"; exit 0; fi
echo "== report"
baseline=()
[[ -n $ATTRIBUTION_BASELINE ]] && baseline=(--attribution-baseline "$ATTRIBUTION_BASELINE")
notes=()  # the hand-written lr_sweep.md and NOTES.md belong to benchmarks/tofu/RESULTS.md only
[[ $REPORT == benchmarks/tofu ]] || notes=(--no-notes)
"$PY" benchmarks/tofu/report.py --runs "$OUT" --out "$REPORT" --scale "$SCALE" --np "$NP" \
  --steps "$STEPS" --epochs "$EPOCHS" --pretrain-config "$PRETRAIN_CONFIG" --utility-keep "$UTILITY_KEEP" \
  --eval-questions "$EVAL_FORGET" "$EVAL_RETAIN" --wall-seconds $(( $(date +%s) - start )) "${baseline[@]}" "${notes[@]}"
