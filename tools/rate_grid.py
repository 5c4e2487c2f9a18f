"""Shared pieces of the benchmark reports that run each variant over a learning-rate grid and seeds
(benchmarks/tofu/report.py, benchmarks/specialisation/report.py): mean ± std over seeds, the
rate-choice rule, differences paired by seed, mean curves over seeds and rate labels.
"""
import statistics


def mean_std(values):
    """Mean and sample standard deviation (0 for one value; NaN for none)."""
    values = [v for v in values if v is not None]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt_mean_std(values, digits=3):
    """'mean ± std' ('mean' for one value, '-' for none)."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m, s = mean_std(values)
    return f"{m:.{digits}f}" + (f" ± {s:.{digits}f}" if len(values) > 1 else "")


def choose_rate(rates, utility, floor, score):
    """The rate rule of both reports: among `rates` whose utility(rate) >= floor(rate), the one with
    the highest score(rate); when none qualifies, the one with the highest utility. Ties go to the
    lower rate. Returns (rate, whether it qualified)."""
    ordered = sorted(rates, key=float)
    qualified = [r for r in ordered if utility(r) >= floor(r)]
    if qualified:
        return max(qualified, key=score), True
    return max(ordered, key=utility), False


def paired(a_by_seed, b_by_seed, value):
    """value(a) - value(b) for each seed present in both {seed: run} maps, by seed."""
    return [value(a_by_seed[s]) - value(b_by_seed[s]) for s in sorted(set(a_by_seed) & set(b_by_seed))]


def mean_curve(curves, key):
    """Mean of `key` per logged step over several runs' metrics records (lists of dicts)."""
    by_step = {}
    for curve in curves:
        for record in curve:
            if record.get(key) is not None:
                by_step.setdefault(record["step"], []).append(record[key])
    steps = sorted(by_step)
    return steps, [statistics.fmean(by_step[t]) for t in steps]


def rate_label(rate):
    """0.003 -> '3e-3', 0.00025 -> '2.5e-4': how run.sh's grids write rates."""
    mantissa, exponent = f"{float(rate):e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"
