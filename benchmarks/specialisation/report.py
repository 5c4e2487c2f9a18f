#!/usr/bin/env python3
"""Writes RESULTS.md and results.json of benchmarks/specialisation/run.sh from its run directory.

Reads <runs>/balancing.json (choose_balancing.py), <runs>/concentration.json and .md
(tools/attribution_concentration.py) and every unlearning row
<runs>/unlearn/<grid setting>/<method>_<variant>/lr<rate>/seed<seed>/summary.json.

Rate rule (per model, method and variant, over its learning-rate grid): among the rates whose mean
retain answer probability after unlearning keeps at least --utility-keep of its value before, the
one with the lowest mean forget answer probability; when no rate keeps it, the rate with the
highest retain answer probability.
"""
import argparse
import glob
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from figures import save_atomic  # noqa: E402  (sets the Agg backend first)
import matplotlib.pyplot as plt  # noqa: E402
from rate_grid import choose_rate, fmt_mean_std as fmt, mean_curve, mean_std, paired  # noqa: E402

VARIANT_NAMES = {"seuf": "SEUF (attributed expert)", "random": "random expert", "full": "full model"}


def load_rows(runs, model):
    """{(method, variant): {rate: {seed: summary}}}"""
    rows = {}
    for path in glob.glob(os.path.join(runs, "unlearn", model, "*", "lr*", "seed*", "summary.json")):
        seed_dir = os.path.dirname(path)
        rate_dir = os.path.dirname(seed_dir)
        method, variant = os.path.basename(os.path.dirname(rate_dir)).rsplit("_", 1)
        rate = os.path.basename(rate_dir)[2:]
        seed = int(os.path.basename(seed_dir)[4:])
        rows.setdefault((method, variant), {}).setdefault(rate, {})[seed] = json.load(open(path))
    return rows


def metric(summary, phase, key):
    parts = key.split(".")
    value = summary[phase]
    for part in parts:
        value = value[part]
    return value


def per_seed(by_seed, phase, key):
    return [metric(by_seed[s], phase, key) for s in sorted(by_seed)]


def choose_by_rate(by_rate, keep):
    """The rate rule of the module docstring -> (rate, whether a rate kept the utility)."""
    def mean_of(rate, phase, key):
        return statistics.fmean(per_seed(by_rate[rate], phase, key))
    return choose_rate(by_rate, lambda r: mean_of(r, "after", "retain.answer_prob"),
                       lambda r: keep * mean_of(r, "before", "retain.answer_prob"),
                       lambda r: -mean_of(r, "after", "forget.answer_prob"))


def paired_metric(a_by_seed, b_by_seed, phase, key):
    return paired(a_by_seed, b_by_seed, lambda summary: metric(summary, phase, key))


def selection_curve(run_dir):
    """Mean target_selection_rate per logged step over the seeds of one (variant, rate)."""
    curves = []
    for seed_dir in glob.glob(os.path.join(run_dir, "seed*")):
        with open(os.path.join(seed_dir, "metrics.jsonl"), encoding="utf-8") as f:
            curves.append([json.loads(line) for line in f])
    return mean_curve(curves, "target_selection_rate")


def figure(runs, model, rows, chosen, out_path):
    """Top: retain vs forget answer prob over each variant's rates; bottom: selection curves."""
    methods = sorted({m for m, _ in rows})
    fig, axes = plt.subplots(2, len(methods), figsize=(4.2 * len(methods), 7.5), squeeze=False)
    for col, method in enumerate(methods):
        top, bottom = axes[0][col], axes[1][col]
        for variant, colour in (("seuf", "tab:red"), ("random", "tab:blue"), ("full", "tab:gray")):
            by_rate = rows.get((method, variant))
            if not by_rate:
                continue
            rates = sorted(by_rate, key=float)
            fx = [mean_std(per_seed(by_rate[r], "after", "forget.answer_prob")) for r in rates]
            ry = [mean_std(per_seed(by_rate[r], "after", "retain.answer_prob")) for r in rates]
            top.errorbar([m for m, _ in fx], [m for m, _ in ry], xerr=[e for _, e in fx],
                         yerr=[e for _, e in ry], marker="o", color=colour, label=VARIANT_NAMES[variant])
            for r, (x, _), (y, _) in zip(rates, fx, ry):
                top.annotate(r, (x, y), fontsize=7)
            if variant != "full" and (method, variant) in chosen:
                rate = chosen[(method, variant)][0]
                steps, curve = selection_curve(os.path.join(runs, "unlearn", model,
                                                            f"{method}_{variant}", f"lr{rate}"))
                bottom.plot(steps, curve, color=colour, label=f"{VARIANT_NAMES[variant]}, lr {rate}")
        top.set(title=f"{method}: after unlearning", xlabel="forget answer prob (lower = forgets)",
                ylabel="retain answer prob")
        bottom.set(title=f"{method}: forget tokens routed to the target", xlabel="step",
                   ylabel="target selection rate")
        top.legend(fontsize=7)
        bottom.legend(fontsize=7)
    fig.tight_layout()
    save_atomic(fig, out_path)


def model_section(runs, model, label, keep, out):
    rows = load_rows(runs, model)
    lines = [f"## Unlearning the forget domain: {label}", ""]
    if not rows:
        return lines + ["(no unlearning rows)", ""], {}
    methods = sorted({m for m, _ in rows})
    result = {}
    any_row = next(iter(next(iter(rows.values())).values()))
    first = any_row[min(any_row)]
    lines.append(f"Before unlearning: forget answer prob {first['before']['forget']['answer_prob']:.3f}, "
                 f"retain answer prob {first['before']['retain']['answer_prob']:.3f}, forget MC "
                 f"{first['before']['forget_mc']['accuracy']:.3f}, retain MC "
                 f"{first['before']['retain_mc']['accuracy']:.3f}.")
    lines.append("")
    lines.append("### Trade-off per learning rate (mean ± std over seeds)")
    lines.append("")
    lines.append("| method | variant | rate | seeds | forget answer prob ↓ | retain answer prob ↑ "
                 "| forget MC acc | retain MC acc | target selection, forget: before → after "
                 "| target selection, retain: before → after |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    chosen = {}
    for method in methods:
        for variant in ("seuf", "random", "full"):
            by_rate = rows.get((method, variant))
            if not by_rate:
                continue
            rate, kept = choose_by_rate(by_rate, keep)
            chosen[(method, variant)] = (rate, kept)
            for r in sorted(by_rate, key=float):
                by_seed = by_rate[r]
                if variant == "full":
                    sel_f = sel_r = "–"
                else:
                    sel_f = (f"{fmt(per_seed(by_seed, 'before', 'forget.target_selection_rate'))} → "
                             f"{fmt(per_seed(by_seed, 'after', 'forget.target_selection_rate'))}")
                    sel_r = (f"{fmt(per_seed(by_seed, 'before', 'retain.target_selection_rate'))} → "
                             f"{fmt(per_seed(by_seed, 'after', 'retain.target_selection_rate'))}")
                mark = " **(chosen)**" if r == rate else ""
                lines.append(
                    f"| {method} | {VARIANT_NAMES[variant]} | {r}{mark} | {len(by_seed)} "
                    f"| {fmt(per_seed(by_seed, 'after', 'forget.answer_prob'))} "
                    f"| {fmt(per_seed(by_seed, 'after', 'retain.answer_prob'))} "
                    f"| {fmt(per_seed(by_seed, 'after', 'forget_mc.accuracy'))} "
                    f"| {fmt(per_seed(by_seed, 'after', 'retain_mc.accuracy'))} | {sel_f} | {sel_r} |")
    lines += ["", "### How the rates were chosen", ""]
    lines.append(f"Rule (report.py, applied to the grid above): per method and variant, among the "
                 f"rates whose mean retain answer probability after unlearning is at least "
                 f"{keep} × its value before, the one with the lowest mean forget answer "
                 f"probability; when no rate keeps that, the rate with the highest retain answer "
                 f"probability. Result:")
    lines.append("")
    for (method, variant), (rate, kept) in sorted(chosen.items()):
        why = "keeps the utility" if kept else f"no rate kept {keep} × the utility: highest retain"
        lines.append(f"- {method} {VARIANT_NAMES[variant]}: {rate} ({why})")
    lines += ["", "### Attributed expert vs random expert (paired by seed; SEUF − random)", ""]
    lines.append("Negative forget difference: the attributed expert forgets more. Positive retain "
                 "difference: it keeps more utility.")
    lines.append("")
    lines.append("| method | rates (SEUF / random) | seeds | Δ forget answer prob | Δ retain answer prob "
                 "| seeds where SEUF forgets more |")
    lines.append("|---|---|---|---|---|---|")
    verdicts = []
    for method in methods:
        seuf, rand = rows.get((method, "seuf")), rows.get((method, "random"))
        if not seuf or not rand:
            continue
        comparisons = [(r, r) for r in sorted(set(seuf) & set(rand), key=float)]
        if (method, "seuf") in chosen and (method, "random") in chosen:
            comparisons.append((chosen[(method, "seuf")][0], chosen[(method, "random")][0]))
        for i, (rs, rr) in enumerate(comparisons):
            df = paired_metric(seuf[rs], rand[rr], "after", "forget.answer_prob")
            dr = paired_metric(seuf[rs], rand[rr], "after", "retain.answer_prob")
            label_rates = f"{rs} / {rr}" + (" (chosen rates)" if i == len(comparisons) - 1 else "")
            wins, losses = sum(d < 0 for d in df), sum(d > 0 for d in df)
            lines.append(f"| {method} | {label_rates} | {len(df)} | {fmt(df)} | {fmt(dr)} "
                         f"| {wins} of {len(df)} |")
            if i == len(comparisons) - 1:
                m, s = mean_std(df)
                result[method] = {"seuf_rate": rs, "random_rate": rr, "delta_forget": df,
                                  "delta_retain": dr}
                if wins == len(df) and m < 0:
                    verdicts.append(f"{method}: the attributed expert forgets more than the random "
                                    f"one in every seed (Δ forget answer prob {m:.3f} ± {s:.3f})")
                elif losses == len(df) and m > 0:
                    verdicts.append(f"{method}: the random expert forgets more in every seed "
                                    f"(Δ {m:+.3f} ± {s:.3f})")
                else:
                    verdicts.append(f"{method}: no consistent difference (Δ {m:+.3f} ± {s:.3f}; "
                                    f"SEUF ahead in {wins}, behind in {losses} of {len(df)} seeds)")
    figure(runs, model, rows, chosen, os.path.join(out, f"{model}.png"))
    lines += ["", f"Figure: `{model}.png` (trade-off over the rates; target selection rate during "
              "unlearning at the chosen rates, mean over seeds).", ""]
    ahead = sum(1 for v in verdicts if "attributed expert forgets more" in v)
    behind = sum(1 for v in verdicts if "random expert forgets more" in v)
    lines += ["", "**Outcome (" + label + ", at the chosen rates):** " +
              ("; ".join(verdicts) if verdicts else "no SEUF / random pairs") + ". " +
              f"In short: the attributed expert beats a random one in every seed for {ahead} of "
              f"{len(verdicts)} methods, loses in every seed for {behind}, and neither holds for "
              f"the other {len(verdicts) - ahead - behind}.", ""]
    return lines, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--chosen", required=True)
    parser.add_argument("--utility-keep", type=float, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--pretrain-steps", type=int, required=True)
    parser.add_argument("--np", type=int, required=True)
    parser.add_argument("--wall-seconds", type=int, required=True)
    args = parser.parse_args()
    balancing = json.load(open(os.path.join(args.runs, "balancing.json")))
    concentration = json.load(open(os.path.join(args.runs, "concentration.json")))
    lines = ["# Expert specialisation on the domain-forget data (tiny scale)", "",
             "Generated by `benchmarks/specialisation/run.sh` (report.py); do not edit by hand.", "",
             f"Setup: configs/tiny/balanced (16 routed experts of width 32, top-4, DeepSeek-V3 "
             f"sigmoid router, 3 MoE layers), {args.pretrain_steps} pretraining steps per model, "
             f"{args.steps} unlearning steps per row, {args.np} MPI ranks; forget = the whole "
             f"'alchemists' domain, retain = the other three. Wall time of the run.sh calls that "
             f"made these results (finished models and rows are reused across calls): "
             f"{args.wall_seconds // 60} min {args.wall_seconds % 60} s.", "",
             "## Balancing setting chosen on validation data", "",
             f"Rule: {balancing['rule']}. Applied: {balancing['how']}. **Chosen: "
             f"{balancing['chosen']}.**", "",
             "| setting | end max_violation | end routing entropy | validation NLL/token "
             "| train loss | forget answer prob | retain answer prob | eligible |",
             "|---|---|---|---|---|---|---|---|"]
    for r in balancing["rows"]:
        lines.append(f"| {r['name']} | {r['end_max_violation']:.3f} | {r['end_routing_entropy']:.3f} "
                     f"| {r['validation_nll']:.4f} | {r['train_loss']:.4f} "
                     f"| {r['forget_answer_prob']:.3f} | {r['retain_answer_prob']:.3f} "
                     f"| {'yes' if r['eligible'] else 'no'} |")
    lines += ["", "## Attribution concentration before unlearning", "",
              "Per MoE layer, the shares of each expert's attribution score; effective experts = "
              "exp(entropy) (16 = uniform, 1 = one expert); H/lnE = normalised entropy; same top = "
              "the top forget expert is the top retain expert; target = SEUF's global pick "
              "(tools/attribution_concentration.py).", "",
              open(os.path.join(args.runs, "concentration.md")).read().strip()]
    lines.append("")
    results = {"balancing": balancing, "concentration": concentration, "comparisons": {}}
    for model in args.models:
        label = (f"model trained with the chosen balancing ({model})" if model == args.chosen
                 else f"model trained with balancing '{model}'")
        section, result = model_section(args.runs, model, label, args.utility_keep, args.out)
        lines += section
        results["comparisons"][model] = result
    with open(os.path.join(args.out, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"wrote {args.out}/RESULTS.md and results.json")


if __name__ == "__main__":
    main()
