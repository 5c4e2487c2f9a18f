"""Predicted (uoe plan, configs/clusters/cpu.yaml) vs measured (run.sh results.json) step time of
every measured configuration -> calibration.json and calibration.md.

usage: calibrate.py <uoe binary> <results.json> <cluster.yaml> <output dir>
       calibrate.py --fit <uoe binary> <results.json> <cluster.yaml>
The planner sees the same model (bench_model.json), target layer (4), tokens per rank, ranks and
EP size as each measured run. --fit prints the peak_flops, memory_bandwidth, collective_overhead
and oversubscription_wait that fit the FITTED runs best (least squares of the relative errors; the
step time is linear in 1/peak_flops, 1/memory_bandwidth and the two per-call costs, so three
planner runs per configuration give its coefficients); the link bandwidth and latency stay as
the cluster file states them (measured separately).
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# The runs configs/clusters/cpu.yaml was fitted on (peak_flops, memory_bandwidth,
# collective_overhead); every other row is a prediction.
# collective_overhead, oversubscription_wait); every other row is a prediction. The two 1-rank
# SEUF runs separate the FLOP rate from the expert weight reads (same weights, twice the tokens).
FITTED = ["weak_np1_ep1", "strong_np1_ep1", "weak_full_np1_ep1", "weak_np2_ep2", "weak_np4_ep4"]


def predict(uoe, cluster, step, overrides=()):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "plan.json")
        subprocess.run([uoe, "plan", os.path.join(HERE, "bench_model.json"), cluster,
                        f"gpu_counts=[{step['ranks']}]",
                        f"workload.sequences_per_rank={step['sequences_per_rank']}",
                        f"workload.seq_len={step['seq_len']}", f"output={out}", *overrides],
                       check=True, stdout=subprocess.DEVNULL)
        plan = json.load(open(out))
    for layout in plan["layouts"]:
        if layout["method"] == step["mode"] and layout["ep"] == step["ep"]:
            return layout
    raise SystemExit(f"no planned layout for {step['name']}")


def fit(uoe, results_path, cluster):
    import numpy as np
    from scipy.optimize import nnls
    steps = {s["name"]: s for s in json.load(open(results_path))["steps"]}
    unit = ["peak_flops=1", "memory_bandwidth=1", "collective_overhead=0", "oversubscription_wait=0"]

    def parts(step, overrides):
        t = predict(uoe, cluster, step, unit + overrides)["time_s"]
        return t["compute"], t["weight_streaming"] + t["optimizer"], t["all_to_all"] + t["grad_sync"]

    matrix, rhs = [], []
    for name in FITTED:
        step = steps[name]
        flops, memory, bytes_and_latency = parts(step, [])
        per_call = parts(step, ["collective_overhead=1"])[2] - bytes_and_latency
        per_wait = parts(step, ["oversubscription_wait=1"])[2] - bytes_and_latency
        measured = step["step_time_s_median"]
        matrix.append(np.array([flops, memory, per_call, per_wait]) / measured)
        rhs.append(1 - bytes_and_latency / measured)
    x, _ = nnls(np.array(matrix), np.array(rhs))
    print(f"peak_flops: {1 / x[0]:.3g}\nmemory_bandwidth: {1 / x[1]:.3g}\n"
          f"collective_overhead: {x[2]:.3g}\noversubscription_wait: {x[3]:.3g}")


def main():
    if sys.argv[1] == "--fit":
        fit(*sys.argv[2:])
        return
    uoe, results_path, cluster, out = sys.argv[1:]
    results = json.load(open(results_path))
    rows = []
    for step in results["steps"]:
        layout = predict(uoe, cluster, step)
        measured = step["step_time_s_median"]
        predicted = layout["time_s"]["total"]
        phases = step["phases_s_median"]
        rows.append({
            "name": step["name"], "mode": step["mode"], "ranks": step["ranks"], "ep": step["ep"],
            "tokens_per_rank": step["tokens_per_rank"], "measured_s": measured, "predicted_s": predicted,
            "error": predicted / measured - 1,
            "predicted_compute_s": layout["time_s"]["compute"] + layout["time_s"]["weight_streaming"],
            "predicted_comm_s": layout["time_s"]["all_to_all"] + layout["time_s"]["grad_sync"],
            "measured_all_to_all_s": phases.get("token_all_to_all", 0) + phases.get("count_exchange", 0) +
                                     phases.get("backward_token_all_to_all", 0),
            "load": step["load_before"]})
    with open(os.path.join(out, "calibration.json.tmp"), "w") as f:
        json.dump(rows, f, indent=1)
    os.replace(os.path.join(out, "calibration.json.tmp"), os.path.join(out, "calibration.json"))
    lines = ["| configuration | ranks | EP | tokens/rank | measured ms | predicted ms | error | "
             "predicted compute / comm ms | measured all-to-all ms | load avg | role |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['ranks']} | {r['ep']} | {r['tokens_per_rank']} | "
                     f"{r['measured_s']*1e3:.0f} | {r['predicted_s']*1e3:.0f} | {r['error']*100:+.0f} % | "
                     f"{r['predicted_compute_s']*1e3:.0f} / {r['predicted_comm_s']*1e3:.0f} | "
                     f"{r['measured_all_to_all_s']*1e3:.0f} | {', '.join(str(x) for x in r['load'])} | "
                     f"{'fit' if r['name'] in FITTED else 'prediction'} |")
    predicted = [r for r in rows if r["name"] not in FITTED]
    within = sum(abs(r["error"]) <= 0.2 for r in predicted)
    lines.append(f"\n{within} of {len(predicted)} predicted configurations within 20 % "
                 f"(the {len(FITTED)} fitted ones excluded).")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "calibration.md.tmp"), "w") as f:
        f.write(text)
    os.replace(os.path.join(out, "calibration.md.tmp"), os.path.join(out, "calibration.md"))
    print(text)
    plot(rows, os.path.join(out, "calibration.png"))


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 5))
    for r in rows:
        fitted = r["name"] in FITTED
        ax.plot(r["measured_s"] * 1e3, r["predicted_s"] * 1e3, "s" if fitted else "o",
                color="gray" if fitted else "C0")
        ax.annotate(r["name"], (r["measured_s"] * 1e3, r["predicted_s"] * 1e3), fontsize=6)
    top = max(max(r["measured_s"], r["predicted_s"]) for r in rows) * 1e3 * 1.1
    ax.plot([0, top], [0, top], "k-", lw=0.8)
    ax.plot([0, top], [0, top * 1.2], "k:", lw=0.6)
    ax.plot([0, top], [0, top * 0.8], "k:", lw=0.6)
    ax.set_xlabel("measured step ms (median)")
    ax.set_ylabel("predicted step ms (uoe plan, cpu.yaml)")
    ax.set_title("planner vs measured (grey squares: fitted; dotted: +-20 %)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    os.replace(path + ".tmp.png", path)
    plt.close(fig)


if __name__ == "__main__":
    main()
