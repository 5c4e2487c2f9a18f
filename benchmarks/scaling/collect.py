"""Medians of the repeated scaling runs -> results.json (benchmarks/scaling/run.sh).

usage: collect.py <output dir> <repeats>
"""
import glob
import json
import os
import statistics
import sys

PHASES = ["attention", "router", "permutation", "count_exchange", "token_all_to_all",
          "expert_compute", "combine", "backward", "backward_token_all_to_all", "grad_reduction",
          "optimizer"]


def median_step(runs):
    first = runs[0]
    phases = {}
    for phase in PHASES:
        values = [r["breakdown"]["phases_s"].get(phase) for r in runs
                  if r.get("breakdown") and phase in r["breakdown"].get("phases_s", {})]
        if values:
            phases[phase] = statistics.median(values)
    return {
        "name": first["name"], "mode": first["mode"], "ranks": first["ranks"], "ep": first["ep"],
        "dp": first["ranks"] // first["ep"],
        "sequences_per_rank": first["model"]["batch_per_rank"], "seq_len": first["model"]["seq"],
        "tokens_per_rank": first["model"]["batch_per_rank"] * first["model"]["seq"],
        "step_time_s_median": statistics.median(r["step_time_s"] for r in runs),
        "step_time_s_runs": [r["step_time_s"] for r in runs],
        "phases_s_median": phases,
        "bytes_rank0": (runs[0].get("breakdown") or {}).get("bytes", {}),
        "load_before": [r["load_before"] for r in runs], "load_after": [r["load_after"] for r in runs],
    }


def main():
    out = sys.argv[1]
    groups = {}
    for path in sorted(glob.glob(f"{out}/raw/step_*_r*.json")):
        run = json.load(open(path))
        groups.setdefault(run["name"], []).append(run)
    steps = [median_step(runs) for runs in groups.values()]
    exchanges = []
    for path in sorted(glob.glob(f"{out}/raw/exchange_np*.json")):
        exchanges.append(json.load(open(path)))
    result = {"repeats": int(sys.argv[2]), "nproc": os.cpu_count(), "steps": steps,
              "exchange": exchanges}
    with open(f"{out}/results.json.tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(f"{out}/results.json.tmp", f"{out}/results.json")
    for s in steps:
        print(f"{s['name']:24s} {s['step_time_s_median']*1e3:9.1f} ms  runs "
              f"{[round(t*1e3) for t in s['step_time_s_runs']]}  load {s['load_before']}")


if __name__ == "__main__":
    main()
