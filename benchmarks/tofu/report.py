#!/usr/bin/python3
"""Collects the TOFU benchmark runs of run.sh into RESULTS.md, results.json and PNG figures.

Usage: report.py --runs runs/tofu --out benchmarks/tofu [--scale small --np 2 --steps 25
                 --epochs 60 --utility-keep 0.9 --attribution-baseline NAME=results.json ...]
Reads <runs>/models/{full,retain}/eval/summary.json, <runs>/models/*/summary.json (training),
<runs>/unlearn/<row>/lr<rate>/seed<k>/{summary.json,config.yaml,metrics.jsonl} (the rate is read
from config.yaml and must match the directory name), <runs>/attribution/ and <runs>/commands.txt.
Per method and variant it picks one rate of the grid by a stated rule (choose_rates; written into
RESULTS.md), compares at those rates, and pairs SEUF with the random expert by seed. The
hand-written lr_sweep.md and NOTES.md next to this script are appended.
"""
import argparse
import glob
import json
import math
import os
import platform
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from figures import InputError, run_cli, save_atomic  # noqa: E402  (sets the Agg backend)
import matplotlib.pyplot as plt  # noqa: E402
import attribution_concentration  # noqa: E402
import plot_attribution  # noqa: E402
import yaml  # noqa: E402
from rate_grid import choose_rate, fmt_mean_std, mean_curve, mean_std, paired, rate_label  # noqa: E402

METHODS = ["ga", "gdiff", "npo", "simnpo", "rmu"]
VARIANTS = ["full", "seuf", "random"]
VARIANT_LABEL = {"full": "full model", "seuf": "SEUF", "random": "random expert"}
UTILITY_TIE = 5e-4  # model-utility differences this small count as equal (collapsed rows differ by float noise)
ABLATIONS = [("ga_seuf_anchor0", "GA SEUF, anchor weight 0"), ("ga_seuf", "GA SEUF, anchor weight 1 (main row)"),
             ("ga_seuf_anchor100", "GA SEUF, anchor weight 100"), ("ga_seuf_top3", "GA SEUF, top-3 experts")]


# Table 3 of the SEUF paper (arXiv 2411.18797v2): FE / UT for Qwen WMDP, DeepSeek WMDP, Qwen RWKU,
# DeepSeek RWKU, as published (no SimNPO row in the paper).
PAPER_TABLE3 = [
    ("Pretrained", "0.4192", "0.5979", "0.3804", "0.5548", "0.4243", "0.5979", "0.5376", "0.5548"),
    ("GA", "0.2953", "0.3393", "0.2457", "0.3145", "0.0078", "0.4849", "0.0839", "0.5195"),
    ("GA+SEUF", "0.2987", "0.5012", "0.2700", "0.5100", "0.0060", "0.5709", "0.0000", "0.5485"),
    ("GDiff", "0.2964", "0.2965", "0.2898", "0.3929", "0.0700", "0.5296", "0.1901", "0.3495"),
    ("GDiff+SEUF", "0.2445", "0.5295", "0.2677", "0.4895", "0.0010", "0.5987", "0.0000", "0.5253"),
    ("NPO", "0.3447", "0.4612", "0.3200", "0.4700", "0.0000", "0.3718", "0.0970", "0.5388"),
    ("NPO+SEUF", "0.3200", "0.5468", "0.2898", "0.4790", "0.0020", "0.5428", "0.0000", "0.5479"),
    ("RMU", "0.2612", "0.3560", "0.2530", "0.4540", "0.0200", "0.2420", "0.0010", "0.5109"),
    ("RMU+SEUF", "0.2536", "0.5351", "0.2859", "0.5424", "0.0723", "0.5975", "0.0130", "0.5388"),
    ("RMU+Random", "0.3505", "0.5947", "0.2722", "0.5183", "0.2110", "0.5924", "0.1176", "0.5182"),
]

def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_jsonl(path):
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def scipy_log10_p(tofu, reference):
    """log10 of scipy's exact KS p-value on the same truth ratios (a cross-check of uoe's value)."""
    try:
        from scipy.stats import ks_2samp
    except ImportError:
        return None
    result = ks_2samp(tofu["forget"]["truth_ratios"], reference["forget"]["truth_ratios"], method="exact")
    return math.log10(max(result.pvalue, 1e-300))


def row_record(summary, reference):
    """The per-seed numbers of one unlearning run."""
    tofu = summary["tofu"]
    before, after = summary["before"], summary["after"]
    return {
        "log10_forget_quality": tofu["log10_forget_quality"],
        "scipy_log10_forget_quality": scipy_log10_p(tofu, reference),
        "forget_quality": tofu["forget_quality"],
        "model_utility": tofu["model_utility"],
        "forget_rouge_l": tofu["forget"]["rouge_l_recall"],
        "retain_rouge_l": tofu["retain"]["rouge_l_recall"],
        "forget_prob": tofu["forget"]["answer_prob"],
        "retain_prob": tofu["retain"]["answer_prob"],
        "forget_truth_ratio": tofu["forget"]["truth_ratio"],
        "retain_truth_ratio": tofu["retain"]["truth_ratio"],
        "selection_rate_before": before["forget"].get("target_selection_rate"),
        "selection_rate_after": after["forget"].get("target_selection_rate"),
        "retain_topk_overlap": after["retain"].get("topk_overlap"),
        "trainable_share": summary["trainable_parameters"] / summary["total_parameters"],
        "trainable_parameters": summary["trainable_parameters"],
        "step_time_s": summary["training"]["step_time_s"],
        "targets": summary["selection"].get("experts", []),
    }


NUMERIC_KEYS = ("log10_forget_quality", "scipy_log10_forget_quality", "forget_quality", "model_utility",
                "forget_rouge_l", "retain_rouge_l", "forget_prob", "retain_prob", "forget_truth_ratio",
                "retain_truth_ratio", "selection_rate_before", "selection_rate_after", "retain_topk_overlap",
                "trainable_share", "trainable_parameters", "step_time_s")


def run_rate(seed_dir):
    """The learning rate a row ran with, from its resolved config.yaml."""
    path = os.path.join(seed_dir, "config.yaml")
    try:
        with open(path, encoding="utf-8") as f:
            return float(yaml.safe_load(f)["learning_rate"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as e:
        raise InputError(f"cannot read learning_rate from {path}: {e}") from e


def collect_rows(runs, reference):
    """{row name: {learning rate: {seed: record}}} from <runs>/unlearn/<row>/lr<rate>/seed<k>."""
    rows = {}
    for path in sorted(glob.glob(os.path.join(runs, "unlearn", "*", "lr*", "seed*", "summary.json"))):
        seed_dir = os.path.dirname(path)
        rate_dir = os.path.dirname(seed_dir)
        name = os.path.basename(os.path.dirname(rate_dir))
        seed = int(os.path.basename(seed_dir)[len("seed"):])
        rate = run_rate(seed_dir)
        if not math.isclose(float(os.path.basename(rate_dir)[len("lr"):]), rate, rel_tol=1e-6):
            raise InputError(f"{seed_dir}: its directory names a rate, its config.yaml has "
                             f"learning_rate {rate}")
        record = row_record(read_json(path), reference)
        record["seed"], record["rate"] = seed, rate
        record["curve"] = read_jsonl(os.path.join(seed_dir, "metrics.jsonl"))
        rows.setdefault(name, {}).setdefault(rate, {})[seed] = record
    return rows


def values(by_seed, key):
    return [by_seed[s][key] for s in sorted(by_seed) if by_seed[s].get(key) is not None]


def cell(by_seed, key, digits=3):
    return fmt_mean_std(values(by_seed, key), digits)


def mean_of(by_seed, key):
    return mean_std(values(by_seed, key))[0]


def model_line(name, tofu):
    f, r = tofu["forget"], tofu["retain"]
    fq = f"{tofu['log10_forget_quality']:.2f}" if "log10_forget_quality" in tofu else "(reference)"
    return (f"| {name} | {fq} | {tofu['model_utility']:.3f} | {f['rouge_l_recall']:.3f} | "
            f"{r['rouge_l_recall']:.3f} | {f['answer_prob']:.3f} | {r['answer_prob']:.3f} | "
            f"{f['truth_ratio']:.3f} | {r['truth_ratio']:.3f} |")


ROW_HEADER = ("| method | variant | rate | n | log10 FQ | model utility | forget ROUGE-L | retain ROUGE-L | "
              "forget prob | selection rate before → after | retain top-K overlap | trainable share | s/step |\n"
              + "|" + "---|" * 13)


def row_line(method, variant, rate, by_seed, mark=""):
    share = mean_of(by_seed, "trainable_share")
    return (f"| {method.upper()} | {VARIANT_LABEL.get(variant, variant)} | {rate_label(rate)}{mark} | "
            f"{len(by_seed)} | {cell(by_seed, 'log10_forget_quality', 2)} | {cell(by_seed, 'model_utility')} | "
            f"{cell(by_seed, 'forget_rouge_l')} | {cell(by_seed, 'retain_rouge_l')} | "
            f"{cell(by_seed, 'forget_prob')} | {cell(by_seed, 'selection_rate_before')} → "
            f"{cell(by_seed, 'selection_rate_after')} | {cell(by_seed, 'retain_topk_overlap')} | "
            f"{share:.4%} | {cell(by_seed, 'step_time_s', 2)} |")


def choose_rates(rows, target_utility, keep):
    """{(method, variant): (rate, qualified)} by the rule of rate_grid.choose_rate: utility floor
    keep x the target model's utility, score the mean log10 forget quality; only the rates with as
    many seeds as the variant's most-seeded rate compete (a partial run does not pick a rate on
    fewer seeds)."""
    chosen = {}
    for method in METHODS:
        for variant in VARIANTS:
            by_rate = rows.get(f"{method}_{variant}")
            if by_rate:
                most = max(len(by_seed) for by_seed in by_rate.values())
                chosen[(method, variant)] = choose_rate(
                    [r for r in by_rate if len(by_rate[r]) == most],
                    lambda r: mean_of(by_rate[r], "model_utility"), lambda r: keep * target_utility,
                    lambda r: mean_of(by_rate[r], "log10_forget_quality"))
    return chosen


def rate_text(rows, chosen, target_utility, keep):
    """The 'How the rates were chosen' section, from the grid that ran and the rule."""
    grids = {kind: sorted({rate for (m, v) in chosen for rate in rows[f"{m}_{v}"] if (v == "full") == (kind == "full")})
             for kind in ("full", "expert")}
    listed = {kind: ", ".join(rate_label(r) for r in rates) or "none" for kind, rates in grids.items()}
    out = ["## How the rates were chosen\n"]
    if all(len(rows[f"{m}_{v}"]) == 1 for m, v in chosen):
        out.append(f"One learning rate per variant ran (run.sh `LR_GRID_FULL` = {listed['full']} for "
                   f"full-model rows, `LR_GRID_EXPERT` = {listed['expert']} for SEUF and random-expert "
                   "rows), so there was nothing to choose. The run.sh defaults (`LR_FULL` 3e-4, `LR_EXPERT` "
                   "3e-3) were chosen once at the reduced scale by the rule in lr_sweep.md (appended below).\n")
        return out
    out.append(f"Grid (run.sh): `LR_GRID_FULL` = {listed['full']} for full-model rows, `LR_GRID_EXPERT` = "
               f"{listed['expert']} for SEUF and random-expert rows. Rule (report.py, `--utility-keep {keep:g}`), "
               f"per method and variant: among the rates whose mean model utility over seeds is at least "
               f"{keep:g} x the target model's ({keep:g} x {target_utility:.3f} = {keep * target_utility:.3f}), "
               "the one with the highest mean log10 forget quality; when no rate qualifies, the rate with the "
               "highest mean model utility; ties go to the lower rate; only the rates run with as many seeds as "
               "the variant's most-seeded rate compete. The rates are chosen on the evaluated "
               "forget10 / retain_perturbed questions themselves, the ones that give the reported numbers, as "
               "TOFU practice does: this is not a held-out choice (it favours every variant alike). Result:\n")
    for (method, variant), (rate, qualified) in sorted(chosen.items()):
        by_seed = rows[f"{method}_{variant}"][rate]
        why = ("qualifies" if qualified else f"no rate keeps {keep:g} x the utility: the highest utility")
        out.append(f"- {method.upper()} {VARIANT_LABEL[variant]}: {rate_label(rate)} ({why}; log10 FQ "
                   f"{mean_of(by_seed, 'log10_forget_quality'):.2f}, utility {mean_of(by_seed, 'model_utility'):.3f})")
    out.append("")
    return out


def seuf_vs_random(rows, chosen):
    """SEUF - random, paired by seed, at each common rate and at the chosen rates -> (lines, records)."""
    out = ["## Attributed expert (SEUF) vs a random expert, paired by seed\n",
           "Differences SEUF − random expert for the same seed. Positive Δ log10 FQ: SEUF is closer to the "
           "retain model; positive Δ utility: SEUF keeps more; negative Δ forget prob: SEUF forgets more. "
           "SEUF is *better* in a seed when both its log10 FQ and its utility are higher, *worse* when both "
           f"are lower (otherwise the seed trades one for the other); utility differences within "
           f"±{UTILITY_TIE} count as equal.\n",
           "| method | rates (SEUF / random) | seeds | Δ log10 FQ | Δ model utility | Δ forget prob | "
           "SEUF higher FQ | SEUF higher utility | SEUF better / worse |",
           "|" + "---|" * 9]
    records, verdicts = [], []
    for method in METHODS:
        seuf, rand = rows.get(f"{method}_seuf"), rows.get(f"{method}_random")
        if not seuf or not rand:
            continue
        pairs = [(r, r) for r in sorted(set(seuf) & set(rand))]
        picked = (chosen[(method, "seuf")][0], chosen[(method, "random")][0])
        if picked not in pairs:
            pairs.append(picked)
        for rs, rr in pairs:
            d = {key: paired(seuf[rs], rand[rr], lambda r, k=key: r[k])
                 for key in ("log10_forget_quality", "model_utility", "forget_prob")}
            fq, mu = d["log10_forget_quality"], d["model_utility"]
            n = len(fq)
            if n == 0:
                continue
            better = sum(a > 0 and b > UTILITY_TIE for a, b in zip(fq, mu))
            worse = sum(a < 0 and b < -UTILITY_TIE for a, b in zip(fq, mu))
            is_chosen = (rs, rr) == picked
            out.append(f"| {method.upper()} | {rate_label(rs)} / {rate_label(rr)}{' (chosen)' if is_chosen else ''} "
                       f"| {n} | {fmt_mean_std(fq, 2)} | {fmt_mean_std(mu)} | {fmt_mean_std(d['forget_prob'])} "
                       f"| {sum(a > 0 for a in fq)} of {n} | {sum(b > UTILITY_TIE for b in mu)} of {n} "
                       f"| {better} / {worse} of {n} |")
            records.append({"method": method, "seuf_rate": rs, "random_rate": rr, "chosen": is_chosen,
                            "seeds": sorted(set(seuf[rs]) & set(rand[rr])), "delta_log10_forget_quality": fq,
                            "delta_model_utility": mu, "delta_forget_prob": d["forget_prob"],
                            "seeds_better": better, "seeds_worse": worse})
            if is_chosen:
                verdicts.append(f"{method.upper()}: SEUF's log10 FQ is higher in {sum(a > 0 for a in fq)} of {n} "
                                f"seeds (Δ {fmt_mean_std(fq, 2)}), its utility higher in "
                                f"{sum(b > UTILITY_TIE for b in mu)} of {n} (Δ {fmt_mean_std(mu)}); better on both in "
                                f"{better}, worse on both in {worse}")
    if not records:
        return [], []
    out.append("")
    out.append("**At the chosen rates:** " + "; ".join(verdicts) + ".\n")
    return out, records


def plot_tradeoff(rows, chosen, models, out):
    """Forget quality vs utility, one point (mean ± std over seeds) per rate per variant."""
    methods = [m for m in METHODS if any(f"{m}_{v}" in rows for v in VARIANTS)]
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 4.2), squeeze=False)
    colors = {"full": "tab:gray", "seuf": "tab:red", "random": "tab:blue"}
    for ax, method in zip(axes[0], methods):
        for variant in VARIANTS:
            by_rate = rows.get(f"{method}_{variant}")
            if not by_rate:
                continue
            rates = sorted(by_rate)
            mu = [mean_std(values(by_rate[r], "model_utility")) for r in rates]
            fq = [mean_std(values(by_rate[r], "log10_forget_quality")) for r in rates]
            ax.errorbar([m for m, _ in mu], [m for m, _ in fq], xerr=[s for _, s in mu], yerr=[s for _, s in fq],
                        marker="o", ms=4, lw=1, color=colors[variant], label=VARIANT_LABEL[variant])
            for r, (x, _), (y, _) in zip(rates, mu, fq):
                picked = chosen.get((method, variant), (None,))[0] == r
                ax.annotate(rate_label(r) + ("*" if picked else ""), (x, y), fontsize=7, color=colors[variant])
        t = models["full"]
        ax.scatter([t["model_utility"]], [t["log10_forget_quality"]], marker="x", color="black", s=40,
                   label="before unlearning")
        ax.scatter([models["retain"]["model_utility"]], [0.0], marker="D", color="grey", s=25,
                   label="retain model")
        ax.set(title=method.upper(), xlabel="model utility")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("log10 forget quality (0 = retain model)")
    fig.suptitle("TOFU forget10: forget quality vs utility per learning rate\n(mean ± std over seeds; * = chosen rate)",
                 fontsize=9)
    fig.tight_layout()
    save_atomic(fig, out)


def plot_curves(rows, chosen, out):
    """Forget loss and target selection rate per step at each variant's chosen rate, mean over seeds."""
    methods = [m for m in METHODS if any((m, v) in chosen for v in VARIANTS)]
    colors = {"full": "tab:gray", "seuf": "tab:red", "random": "tab:blue"}
    fig, axes = plt.subplots(2, len(methods), figsize=(3.4 * len(methods), 6), sharex=True, squeeze=False)
    for col, method in enumerate(methods):
        for variant in VARIANTS:
            if (method, variant) not in chosen:
                continue
            rate = chosen[(method, variant)][0]
            curves = [r["curve"] for r in rows[f"{method}_{variant}"][rate].values()]
            label = f"{VARIANT_LABEL[variant]}, lr {rate_label(rate)}"
            for row, key in ((0, "forget_loss"), (1, "target_selection_rate")):
                steps, curve = mean_curve(curves, key)
                if steps:
                    axes[row][col].plot(steps, curve, label=label, color=colors[variant])
        axes[0][col].set_title(method.upper())
        axes[1][col].set_xlabel("step")
        axes[0][col].legend(fontsize=6)
    axes[0][0].set_ylabel("forget loss (method objective)")
    axes[1][0].set_ylabel("target-expert selection rate\n(forget batch; mean over seeds)")
    fig.tight_layout()
    save_atomic(fig, out)


def baseline_concentration(spec):
    """NAME=results.json of an earlier run.sh -> its attribution concentration (for the comparison)."""
    name, sep, path = spec.partition("=")
    if not sep or not name or not os.path.isfile(path):
        raise InputError(f"--attribution-baseline '{spec}' is not NAME=<existing results.json>")
    data = read_json(path)
    if "concentration" in data:  # written by this report
        model = dict(data["concentration"], model=name)
        model["layers"] = [dict(r, model=name) for r in model["layers"]]
        return model
    attribution = data.get("attribution", {})  # earlier reports: raw scores and their tables
    if not {"forget10", "retain_perturbed"} <= set(attribution):
        raise InputError(f"{path} has no attribution scores (forget10 and retain_perturbed)")
    layers = [int(line.split("|")[1]) for line in attribution["forget10"]["table"]]
    seuf = next((row["seeds"][0]["targets"] for key, row in data.get("rows", {}).items()
                 if key.endswith("_seuf") and row["seeds"][0].get("targets")), None)
    return attribution_concentration.from_scores(
        name, path, layers, attribution["forget10"]["scores"], attribution["retain_perturbed"]["scores"],
        [seuf[0]["layer"], seuf[0]["expert"]] if seuf else None)


def concentration_summary(model):
    layers = model["layers"]
    parts = []
    for kind in ("forget", "retain"):
        share = statistics.fmean(r[kind]["top_share"] for r in layers)
        entropy = statistics.fmean(r[kind]["normalized_entropy"] for r in layers)
        parts.append(f"{kind} top-1 share {share:.3f}, H/lnE {entropy:.3f}")
    same = sum(r["same_top"] for r in layers)
    return (f"- {model['model']}: mean over its {len(layers)} MoE layers: " + "; ".join(parts)
            + f"; the same top expert for forget and retain in {same} of {len(layers)} layers.")


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--np", type=int, default=2)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--epochs", type=float, default=60)
    parser.add_argument("--pretrain-config", default="benchmarks/tofu/configs/pretrain.yaml")
    parser.add_argument("--wall-seconds", type=int, default=0)
    parser.add_argument("--eval-questions", type=int, nargs=2, default=[0, 0])
    parser.add_argument("--utility-keep", type=float, default=0.9,
                        help="rate rule: keep mean model utility >= this x the target model's")
    parser.add_argument("--attribution-baseline", metavar="NAME=results.json",
                        help="an earlier run.sh's results.json whose attribution concentration to compare with")
    parser.add_argument("--no-notes", action="store_true",
                        help="leave out the hand-written lr_sweep.md and NOTES.md (a side study's report)")
    args = parser.parse_args(argv[1:])
    models, training = {}, {}
    for name in ("full", "retain"):
        path = os.path.join(args.runs, "models", name, "eval", "summary.json")
        if not os.path.isfile(path):
            raise InputError(f"{path} missing: run benchmarks/tofu/run.sh first")
        models[name] = read_json(path)["tofu"]
        train_summary = os.path.join(args.runs, "models", name, "summary.json")
        if os.path.isfile(train_summary):
            training[name] = read_json(train_summary)
    rows = collect_rows(args.runs, models["retain"])
    if not rows:
        raise InputError(f"no finished rows under {args.runs}/unlearn")
    chosen = choose_rates(rows, models["full"]["model_utility"], args.utility_keep)
    os.makedirs(args.out, exist_ok=True)
    figures = {"trade-off": "fq_vs_mu.png", "curves": "curves.png"}
    plot_tradeoff(rows, chosen, models, os.path.join(args.out, figures["trade-off"]))
    plot_curves(rows, chosen, os.path.join(args.out, figures["curves"]))
    for label, path in (("forget10", os.path.join(args.runs, "attribution", "attribution.h5")),
                        ("retain_perturbed", os.path.join(args.runs, "attribution", "attribution_retain.h5"))):
        if os.path.isfile(path):
            scores, layers, target, title = plot_attribution.read_attribution(path)
            figures[f"attribution_{label}"] = f"attribution_{label}.png"
            plot_attribution.plot(scores, layers, target, f"{label}: {title}", os.path.join(args.out, figures[f"attribution_{label}"]))
    model_name = os.path.splitext(os.path.basename(args.pretrain_config))[0]
    concentration = []
    attribution_path = os.path.join(args.runs, "attribution", "attribution.h5")
    if os.path.isfile(attribution_path):
        concentration.append(attribution_concentration.report(f"{model_name} (this run)", attribution_path))
        if args.attribution_baseline:
            concentration.append(baseline_concentration(args.attribution_baseline))

    scale_note = {"full": "full scale (full.json / retain90.json)",
                  "small": "REDUCED scale: trained on the 800 TOFU pairs of the forget10 and retain_perturbed "
                           "questions (40 of the 200 authors), retain model on the 400 retain_perturbed pairs",
                  "tiny": "TEST scale (40 + 40 questions): numbers are not meaningful"}[args.scale]
    out = []
    out.append("# TOFU benchmark: unlearning with and without SEUF\n")
    out.append(f"Generated by `benchmarks/tofu/report.py` from the runs of `benchmarks/tofu/run.sh` "
               f"(report written at commit {git_commit()}). **Scale: {scale_note}.** Models: "
               f"`{args.pretrain_config}`. Unlearning `forget10` (20 authors, 400 QA), "
               f"{args.steps} steps per row, {args.np} MPI ranks on {os.cpu_count()} cores ({cpu_name()}), "
               +
               (f"wall time of this invocation {args.wall_seconds / 60:.1f} min (reused models and rows "
                f"are not retrained)." if args.wall_seconds > 0 else "report regenerated from finished runs.")
               + "\n")
    out.append(f"Unlearning hyper-parameters (the same for every method): {args.steps} AdamW steps, a constant "
               "learning rate per row (its own grid per variant: see 'How the rates were chosen'), global "
               "batch 16, gradient clipping 1.0, retain weight 1 (GDiff, RMU; NPO and SimNPO add the retain "
               "NLL, i.e. NPO+RT / SimNPO+RT), anchor weight 1 for expert rows and 0 for full-model rows, "
               "npo_beta 0.1, simnpo_beta 2.5, RMU steering 20 at the target layer. The random expert is "
               "drawn by uoe (`selection.mode: random`) from the row's seed.\n")
    nf, nr = models["full"]["forget"]["questions"], models["full"]["retain"]["questions"]
    out.append(f"Evaluated: the first {nf} questions of forget10_perturbed ({nf // 20} of the 20 forget authors) "
               f"and the first {nr} of retain_perturbed ({nr // 20} authors)"
               + (" — a fixed subset, to fit the CPU budget; unlearning uses all 400 forget10 pairs" if nf < 400 or nr < 400 else "")
               + ".\n")
    out.append("## Models\n")
    out.append("Forget quality is log10 of the KS p-value between the forget10 truth-ratio distributions "
               "of the model and of the retain model (0 is the retain model itself). Model utility is the "
               "harmonic mean of retain_perturbed answer probability, ROUGE-L recall and truth-ratio score; "
               "the real-authors and world-facts sets of TOFU are left out (a model trained from scratch on "
               "TOFU has no world knowledge to keep).\n")
    out.append("| model | log10 FQ | model utility | forget ROUGE-L | retain ROUGE-L | forget prob | "
               "retain prob | forget truth ratio | retain truth ratio |")
    out.append("|" + "---|" * 9)
    out.append(model_line("target (trained on the training set)", models["full"]))
    out.append(model_line("retain (trained without forget10)", models["retain"]))
    for name, t in training.items():
        tr = t.get("training", t)
        out.append("")
        out.append(f"- {name} model training: `{json.dumps({k: tr[k] for k in tr if k in ('steps', 'resumed_from_step', 'initial_loss', 'final_loss', 'wall_s', 'tokens_per_s')})}`")
    if "full" in training:
        tr, f = training["full"].get("training", training["full"]), models["full"]["forget"]
        out.append(f"\nBoth models trained for {args.epochs:g} epochs (run.sh `EPOCHS`). Memorisation: the "
                   f"target model ends at training loss {tr.get('final_loss', float('nan')):.4f} and answers "
                   f"forget10 at probability {f['answer_prob']:.3f} / ROUGE-L {f['rouge_l_recall']:.3f}; the "
                   f"retain model, which never saw forget10, at {models['retain']['forget']['answer_prob']:.3f} / "
                   f"{models['retain']['forget']['rouge_l_recall']:.3f}.")
    out.append("")
    if concentration:
        out.append("## Attribution concentration before unlearning\n")
        out.append("Per MoE layer of the target model (`uoe attribute` with forget10's 400 training pairs and the "
                   "evaluated retain_perturbed answers; tools/attribution_concentration.py): the top expert and its "
                   "share of the layer's attribution score, the effective number of experts exp(H) and H/lnE "
                   "(1 = uniform), whether the top forget expert is the top retain expert, and whether the two "
                   "halves of the forget set agree on the top expert; target = SEUF's global pick."
                   + (" The second model is the earlier run named by `--attribution-baseline`." if len(concentration) > 1 else "")
                   + "\n")
        out.append(attribution_concentration.markdown(concentration))
        out.append("")
        out.extend(concentration_summary(m) for m in concentration)
        out.append("")
    out.extend(rate_text(rows, chosen, models["full"]["model_utility"], args.utility_keep))
    seeds = sorted({s for by_rate in rows.values() for by_seed in by_rate.values() for s in by_seed})
    out.append("## Main comparison at the chosen rates\n")
    out.append(f"Mean ± sample standard deviation over seeds (seeds present: {seeds}; the column `n` "
               "gives each row's count). Selection rate: share of forget-set tokens whose top-K includes "
               "the target expert (for full-model rows, the best-attributed expert) before → after; "
               "top-K overlap: retain_perturbed tokens' top-K after vs before (mean over MoE layers).\n")
    out.append(ROW_HEADER)
    for (method, variant), (rate, _) in sorted(chosen.items(), key=lambda kv: (METHODS.index(kv[0][0]), VARIANTS.index(kv[0][1]))):
        out.append(row_line(method, variant, rate, rows[f"{method}_{variant}"][rate]))
    out.append("")
    paired_lines, paired_records = seuf_vs_random(rows, chosen)
    out.extend(paired_lines)
    if any(len(rows[f"{m}_{v}"]) > 1 for m, v in chosen):
        out.append("## Trade-off per learning rate\n")
        out.append("Every rate of every variant (mean ± std over seeds); **(chosen)** marks the rate the rule picked.\n")
        out.append(ROW_HEADER)
        for (method, variant), (picked, _) in sorted(chosen.items(), key=lambda kv: (METHODS.index(kv[0][0]), VARIANTS.index(kv[0][1]))):
            for rate, by_seed in sorted(rows[f"{method}_{variant}"].items()):
                out.append(row_line(method, variant, rate, by_seed, " **(chosen)**" if rate == picked else ""))
        out.append("")
    checks = [abs(r["log10_forget_quality"] - r["scipy_log10_forget_quality"]) for by_rate in rows.values()
              for by_seed in by_rate.values() for r in by_seed.values() if r.get("scipy_log10_forget_quality") is not None]
    if checks:
        out.append(f"Forget quality cross-check: scipy.stats.ks_2samp (exact) on the same truth ratios gives "
                   f"log10 p within {max(checks):.1e} of uoe's value for all {len(checks)} runs.\n")
    ablation_rates = sorted({r for name, _ in ABLATIONS if name != "ga_seuf" for r in rows.get(name, {})})
    if ablation_rates:
        out.append("## GA ablations (seed 1 unless n says otherwise)\n")
        out.append(ROW_HEADER)
        for rate in ablation_rates:
            for name, label in ABLATIONS:
                by_seed = rows.get(name, {}).get(rate)
                if by_seed and name == "ga_seuf":
                    by_seed = {min(seeds): by_seed[min(seeds)]} if min(seeds) in by_seed else None
                if by_seed:
                    out.append(row_line("ga", label, rate, by_seed))
        out.append("")
    out.append("## Figures\n")
    for key, name in figures.items():
        out.append(f"![{key}]({name})\n")
    results = {"scale": args.scale, "steps": args.steps, "epochs": args.epochs, "np": args.np,
               "pretrain_config": args.pretrain_config, "utility_keep": args.utility_keep,
               "models": models, "wall_seconds": args.wall_seconds,
               "rows": {name: {rate_label(rate): {
                   "rate": rate,
                   "seeds": [{k: v for k, v in r.items() if k != "curve"} for _, r in sorted(by_seed.items())],
                   "mean": {k: mean_of(by_seed, k) for k in NUMERIC_KEYS},
                   "std": {k: mean_std(values(by_seed, k))[1] for k in NUMERIC_KEYS}}
                   for rate, by_seed in sorted(by_rate.items())} for name, by_rate in rows.items()},
               "chosen": {f"{m}_{v}": {"rate": rate_label(rate), "qualified": q} for (m, v), (rate, q) in chosen.items()},
               "seuf_minus_random": paired_records,
               "concentration": concentration[0] if concentration else None,
               "concentration_baseline": concentration[1] if len(concentration) > 1 else None}
    out.append("## The paper's numbers (different benchmarks and scale)\n")
    out.append("The SEUF paper (Zhuang et al., ACL 2025, arXiv 2411.18797v2) does not evaluate on TOFU: its "
               "Appendix A and Limitations say TOFU and MUSE need a fine-tuning step before unlearning that "
               "biases the results for MoE LLMs. Its Table 3 reports WMDP (forget efficacy FE = WMDP-Cyber "
               "accuracy, ideal 0.25) and RWKU (FE = ROUGE-L recall on the forget targets, ideal 0), with "
               "utility UT = MMLU accuracy, on Qwen1.5-MoE-A2.7B-Chat and DeepSeek-V2-Lite (lower FE and "
               "higher UT are better). Reproduced here as published, for the direction of the effect only: "
               "other benchmarks, metrics and models of ~1000x our size (4.4 M parameters, from scratch).\n")
    out.append("| method | Qwen WMDP FE / UT | DeepSeek WMDP FE / UT | Qwen RWKU FE / UT | DeepSeek RWKU FE / UT |")
    out.append("|---|---|---|---|---|")
    for row in PAPER_TABLE3:
        cells = [f"{row[1 + 2 * i]} / {row[2 + 2 * i]}" for i in range(4)]
        out.append(f"| {row[0]} | " + " | ".join(cells) + " |")
    out.append("\nThe paper's anchor-weight ablation (its Table 6: DeepSeek, GA, RWKU) finds alpha = 1 best "
               "(UT 0.5485 vs 0.5435 at alpha = 0 and 0.5471 at 100, FE 0 for all); its random-expert row "
               "(RMU+Random above) keeps utility but forgets far less than SEUF.\n")
    commands_path = os.path.join(args.runs, "commands.txt")
    out.append("## Commands\n")
    if os.path.isfile(commands_path):
        with open(commands_path, encoding="utf-8") as f:
            commands = [line.rstrip() for line in f if line.strip()]
        out.append(f"The uoe commands run.sh ran, by invocation (`#` lines; {len(commands)} lines in "
                   f"all; trained models and finished rows are reused across invocations):\n")
        out.append("```")
        out.extend(commands)
        out.append("```\n")
    if args.no_notes:
        out.append("Hand-written notes on all TOFU runs, this one included: benchmarks/tofu/NOTES.md.\n")
    for name in () if args.no_notes else ("lr_sweep.md", "NOTES.md"):  # hand-written parts, when present
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                out.append(f.read())
    for path, text in ((os.path.join(args.out, "RESULTS.md"), "\n".join(out) + "\n"),
                       (os.path.join(args.out, "results.json"), json.dumps(results, indent=1) + "\n")):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    print(f"wrote {args.out}/RESULTS.md, results.json and {len(figures)} figures ({len(rows)} rows)")


if __name__ == "__main__":
    run_cli(main)
