#!/usr/bin/env bash
# The main job on the built-in default, with 2 ranks (experts split over both):
#   1. install what is missing and build;
#   2. generate the fictitious-knowledge data (runs/demo/data);
#   3. pretrain the tiny MoE until it knows the facts (runs/demo/pretrain);
#   4. unlearn the forget entities with gradient ascent + SEUF (one expert + router anchor) and
#      with full-model gradient ascent (same steps and learning rate);
#   5. print the side-by-side comparison and write the figures (runs/demo/*.png: attribution,
#      loss curves, expert load of pretraining over steps).
# Extra arguments are passed as config overrides to both unlearning runs. Each step overwrites
# what a previous demo wrote (overwrite_output_dir=true).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
bash launch/build.sh
mpi=(launch/uoe_mpirun.sh -np 2)
again=overwrite_output_dir=true
build/uoe make-data configs/tiny/facts.yaml $again
"${mpi[@]}" build/uoe pretrain configs/tiny/pretrain_facts.yaml $again
"${mpi[@]}" build/uoe unlearn configs/tiny/unlearn_seuf.yaml $again "$@"
"${mpi[@]}" build/uoe unlearn configs/tiny/unlearn_full.yaml $again "$@"
/usr/bin/python3 tools/plot_attribution.py runs/demo/seuf_ga/attribution.h5 runs/demo/attribution.png
/usr/bin/python3 tools/plot_curves.py runs/demo/loss_curves.png \
  "SEUF GA=runs/demo/seuf_ga/metrics.jsonl" "full GA=runs/demo/full_ga/metrics.jsonl"
/usr/bin/python3 tools/plot_curves.py --load runs/demo/load.png \
  "pretrain=runs/demo/pretrain/metrics.jsonl"
echo
echo "== GA with SEUF (one expert + router anchor) vs full-model GA, same steps and learning rate =="
python3 tools/compare_runs.py "SEUF GA=runs/demo/seuf_ga" "full GA=runs/demo/full_ga" \
  --json runs/demo/comparison.json
echo "figures: runs/demo/attribution.png runs/demo/loss_curves.png runs/demo/load.png;" \
  "table: runs/demo/comparison.json"
