"""Predicted (uoe plan, configs/clusters/cpu.yaml) vs measured (run.sh results.json) step time of
every measured configuration -> calibration.json and calibration.md.

usage: calibrate.py <uoe binary> <results.json> <cluster.yaml> <output dir>
The planner sees the same model (bench_model.json), target layer (4), tokens per rank, ranks and
EP size as each measured run.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# The runs configs/clusters/cpu.yaml was fitted on (peak_flops, memory_bandwidth,
# collective_overhead); every other row is a prediction.
FITTED = {"weak_np1_ep1": "fit: peak_flops", "weak_full_np1_ep1": "fit: memory_bandwidth (optimizer phase)",
          "weak_np2_ep2": "fit: collective_overhead"}


def predict(uoe, cluster, step):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "plan.json")
        subprocess.run([uoe, "plan", os.path.join(HERE, "bench_model.json"), cluster,
                        f"gpu_counts=[{step['ranks']}]",
                        f"workload.sequences_per_rank={step['sequences_per_rank']}",
                        f"workload.seq_len={step['seq_len']}", f"output={out}"],
                       check=True, stdout=subprocess.DEVNULL)
        plan = json.load(open(out))
    for layout in plan["layouts"]:
        if layout["method"] == step["mode"] and layout["ep"] == step["ep"]:
            return layout
    raise SystemExit(f"no planned layout for {step['name']}")


def main():
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
            "predicted_compute_s": layout["time_s"]["compute"],
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
                     f"{FITTED.get(r['name'], 'prediction')} |")
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
