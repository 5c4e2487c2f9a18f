"""Outcome checks of the end-to-end SEUF run, shared by tests/app/seuf_end_to_end.sh (which asserts
the ones marked asserted) and benchmarks/spread/summarize.py (which evaluates all of them over BLAS
kernels and seeds, so the spread behind each margin is measured, not guessed).

Each check reads the pretrained model's eval (`pre`), the SEUF GA run's summary.json (`seuf`) and
the full-model GA run's summary.json of the same pretrained model (`full`), and returns
(holds, what was seen).
"""


def acc(s, phase, section):
    return s[phase][section]["accuracy"]


def nll(s, phase, section):
    return s[phase][section]["answer_nll"]


def rise(s, section):
    return nll(s, "after", section) - nll(s, "before", section)


def _pretrained_knows(pre, seuf, full):
    f, r = pre["forget_mc"]["accuracy"], pre["retain_mc"]["accuracy"]
    return f >= 0.9 and r >= 0.9, f"forget {f:.3f}, retain {r:.3f}"


def _mc_drop(section, cmp, bound):
    def check(pre, seuf, full):
        b, a = acc(seuf, "before", section), acc(seuf, "after", section)
        return cmp(b - a, bound), f"{b:.3f} -> {a:.3f}"
    return check


def _forget_nll_rises(pre, seuf, full):
    return rise(seuf, "forget") >= 3.0, f"{nll(seuf, 'before', 'forget'):.3f} -> {nll(seuf, 'after', 'forget'):.3f}"


def _selective(pre, seuf, full):
    f, r = rise(seuf, "forget"), rise(seuf, "retain")
    return f > r, f"forget +{f:.3f}, retain +{r:.3f}"


def _retain_nll_vs_full(pre, seuf, full):
    s, g = nll(seuf, "after", "retain"), nll(full, "after", "retain")
    return s < g, f"SEUF {s:.3f}, full {g:.3f}"


def _retain_mc_vs_full(pre, seuf, full):
    s, g = acc(seuf, "after", "retain_mc"), acc(full, "after", "retain_mc")
    return s >= g, f"SEUF {s:.3f}, full {g:.3f}"


def _anchor(pre, seuf, full):
    b = seuf["before"]["forget"]["target_selection_rate"]
    a = seuf["after"]["forget"]["target_selection_rate"]
    return a >= b, f"{b:.3f} -> {a:.3f}"


def _trainable(pre, seuf, full):
    t, n = seuf["trainable_parameters"], seuf["total_parameters"]
    return t < 0.05 * n, f"{t} of {n}"


# (name, asserted by the end-to-end test, check)
CHECKS = [
    ("pretrained model knows the facts (MC accuracy >= 0.9, forget and retain)", True, _pretrained_knows),
    ("SEUF: forget MC accuracy drops by >= 0.3", True, _mc_drop("forget_mc", lambda d, b: d >= b, 0.3)),
    ("SEUF: retain MC accuracy drops by <= 0.15", False, _mc_drop("retain_mc", lambda d, b: d <= b, 0.15)),
    ("SEUF: forget answer NLL rises by >= 3 nats", True, _forget_nll_rises),
    ("SEUF: forget answer NLL rises more than retain answer NLL", True, _selective),
    ("SEUF keeps retain answers better than full GA (lower retain NLL)", True, _retain_nll_vs_full),
    ("SEUF keeps retain MC accuracy at least as high as full GA", True, _retain_mc_vs_full),
    ("SEUF: the anchor keeps the target-expert selection rate from falling", True, _anchor),
    ("SEUF trains < 5% of the parameters", True, _trainable),
]
CHECK_NAMES = [name for name, _, _ in CHECKS]
ASSERTED_NAMES = [name for name, use, _ in CHECKS if use]


def evaluate(pre, seuf, full):
    """{name: (holds, what was seen)} for every check."""
    return {name: tuple(check(pre, seuf, full)) for name, _, check in CHECKS}


def asserted(pre, seuf, full):
    """[(name, holds, what was seen)] for the checks the end-to-end test asserts."""
    return [(name, *check(pre, seuf, full)) for name, use, check in CHECKS if use]
