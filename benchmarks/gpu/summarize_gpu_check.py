#!/usr/bin/env python3
"""Summary of a run_gpu_check.sh run: <dir>/gpu_check.json, <dir>/gpu_check.md and a printed table.

Reads <dir>/env.json, steps.jsonl (one line per step), the GoogleTest JSON reports
(test_gpu_*.json, test_parallel_nccl_np2.json), the MoE layer benchmark results
(moe_layer_<shape>.json) with their cuBLAS comparators (cublas_<shape>.json), the SEUF-step
results (seuf_model.json, seuf_plan.json, seuf_uoe_summary.json / metrics.jsonl, seuf_uoe_full_*,
seuf_hf.json)
and the end-to-end run's summary (unlearn_tiny_e2e_summary.json).

Judged (exit code 0 only if all hold): every step is ok, except the 2-rank NCCL attempt (NCCL is
expected to refuse two ranks on one GPU; its outcome is reported) and the full-model step, which
may instead be refused by uoe's memory plan (its reason is reported). On a GPU (env.json device
"cuda") a GPU test that skipped at 1 rank fails its step; at 2 ranks skips are reported only. In
a CPU rehearsal GPU tests skip. The goals of issue 18 (cuBLAS ratio, speed-up over the PyTorch
reference and over HF transformers, memory against the plan) are reported as met or not, not
judged. gpu_check.md is the block for benchmarks/gpu/RESULTS.md; it names the commit the binaries
are from (env.json's binaries_commit: the prebuilt's MANIFEST, or this tree's when built here).
Should the summary itself break, gpu_check.md/json still say so, with the step records, and the
exit code is 2. Standard library only.

    summarize_gpu_check.py <dir> <elapsed seconds>
"""
import datetime
import json
import pathlib
import statistics
import sys
import traceback

# The names run_gpu_check.sh's filter picks (*Cuda*:*CUDA*:*cuda*:...): a skipped one is a GPU test.
GPU_TEST_TAGS = ("Cuda", "CUDA", "cuda", "Gpu", "GPU", "Nccl", "NCCL", "nccl")
TWO_RANKS_ONE_GPU = "test_parallel_nccl_np2"
FULL_STEP = "seuf_uoe_full"
PLAN_REFUSAL = "planned peak memory per rank"
GOAL_CUBLAS, GOAL_VS_PYTORCH, GOAL_VS_HF, GOAL_PLAN = 0.6, 3.0, 2.0, 0.2


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def log_line(folder, step, needle=None):
    """The first log line of `step` that holds `needle`, else its last error line, else ''."""
    try:
        lines = [l.strip() for l in (folder / f"{step}.log").read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    if needle:
        return next((l for l in lines if needle in l), "")
    errors = [l for l in lines if "error" in l.lower()]
    return errors[-1] if errors else next((l for l in reversed(lines) if l), "")


def gtest_summary(report):
    """{passed, failed, skipped, gpu_skipped, failures: [names]} of a GoogleTest JSON report."""
    summary = {"passed": 0, "failed": 0, "skipped": 0, "gpu_skipped": [], "failures": []}
    for suite in report.get("testsuites", []):
        for test in suite.get("testsuite", []):
            name = f"{suite['name']}.{test['name']}"
            if test.get("failures"):
                summary["failed"] += 1
                summary["failures"].append(name)
            elif test.get("result") == "SKIPPED":
                summary["skipped"] += 1
                if any(tag in name for tag in GPU_TEST_TAGS):
                    summary["gpu_skipped"].append(name)
            else:
                summary["passed"] += 1
    return summary


def two_ranks_outcome(folder, steps, tests):
    """What NCCL did with 2 ranks on one GPU: passed, refused (its message) or failed."""
    step = steps.get(TWO_RANKS_ONE_GPU)
    if step is None:
        return "not run"
    if step["status"] == "ok":
        counts = tests.get(TWO_RANKS_ONE_GPU, {})
        return "skipped (no GPU)" if counts.get("skipped") and not counts.get("passed") else "passed"
    refusal = log_line(folder, TWO_RANKS_ONE_GPU, "Duplicate GPU")
    return f"refused by NCCL: {refusal}" if refusal else f"{step['status']} ({step['detail']})"


def moe_benchmark(result, cublas):
    flops = result["expert_gflop_fwd_bwd"] * 1e9

    def tflops(key):
        return flops / result[key]["median_s"] / 1e12

    b = {"shape": result["shape"], "dtype": result.get("dtype"), "check": result["check"],
         "uoe_layer_tflops": tflops("layer"), "uoe_expert_bank_tflops": tflops("expert_bank"),
         "per_expert_mm_tflops": tflops("gemm"), "pytorch_reference_tflops": tflops("python_reference"),
         "uoe_vs_pytorch": result["ratios"]["speedup_vs_python"],
         "uoe_layer_vs_per_expert_mm": result["ratios"]["layer_vs_gemm"],
         "uoe_layer_median_s": result["layer"]["median_s"],
         "pytorch_reference_median_s": result["python_reference"]["median_s"]}
    frozen = result.get("expert_bank_frozen")
    if frozen:  # every expert frozen (SEUF's case): input gradients only, grouped GEMMs on CUDA
        b["uoe_frozen_bank_tflops"] = frozen["gflops"] / 1e3
        b["uoe_frozen_bank_path"] = frozen.get("path")
        b["frozen_per_expert_mm_tflops"] = result["gemm_frozen"]["gflops"] / 1e3
    if cublas:
        b["cublas_tflops"] = cublas["tflops"]
        b["uoe_layer_vs_cublas"] = b["uoe_layer_tflops"] / cublas["tflops"]
        if frozen and "frozen_tflops" in cublas:
            b["cublas_frozen_tflops"] = cublas["frozen_tflops"]
            b["uoe_frozen_bank_vs_cublas"] = b["uoe_frozen_bank_tflops"] / cublas["frozen_tflops"]
    return b


def peak_memory(memory):
    """(key, measured bytes, planned bytes) of summary.json's memory: the device peak if uoe
    reports one (a measured_* key naming cuda / device / gpu) against the plan's expected device
    peak (memory_plan.cpp: expected_peak_device_allocated_bytes, else the plan's total), else the
    peak RSS against the plan's expected RSS."""
    measured = {k: v for k, v in memory.items() if k.startswith("measured") and isinstance(v, (int, float))}
    device = [k for k in measured if any(tag in k for tag in ("cuda", "device", "gpu"))]
    if device:
        key = min(device)  # measured_peak_device_allocated_bytes_max_rank before ..._reserved_...
        planned = memory.get("expected_peak_device_allocated_bytes",
                             memory.get("planned_bytes", {}).get("total"))
        return key, measured[key], planned
    key = "measured_peak_rss_bytes_max_rank"
    return key, measured.get(key), memory.get("expected_peak_rss_bytes")


def uoe_step(folder, prefix, step):
    """A uoe unlearn run of the SEUF check: status, tokens/s (median after the first step), memory."""
    r = {"status": step["status"] if step else "not run"}
    if step and step["status"] != "ok":
        r["error"] = log_line(folder, prefix)
    summary = read_json(folder / f"{prefix}_summary.json")
    if not summary:
        return r
    training = summary.get("training", {})
    try:
        metrics = [json.loads(l) for l in (folder / f"{prefix}_metrics.jsonl").read_text().splitlines() if l]
    except (OSError, ValueError):
        metrics = []
    rates = [m["tokens_per_s"] for m in metrics if m.get("step", 0) >= 2 and "tokens_per_s" in m]
    rates = rates or [m["tokens_per_s"] for m in metrics if "tokens_per_s" in m]
    memory = summary.get("memory", {})
    key, measured, planned = peak_memory(memory)
    breakdown = training.get("breakdown") or {}  # profile.breakdown: per-step means, seconds
    if breakdown.get("wall_s"):
        r["breakdown_ms"] = {"step": breakdown["wall_s"] * 1e3,
                             **{p: s * 1e3 for p, s in breakdown.get("phases_s", {}).items()}}
    r.update({"tokens_per_s": statistics.median(rates) if rates else training.get("tokens_per_s"),
              "step_time_s": training.get("step_time_s"), "steps": training.get("steps"),
              "trainable_elements": summary.get("trainable_parameters"),
              "total_parameters": summary.get("total_parameters"),
              "optimizer_state_bytes": training.get("optimizer_state_bytes_max_rank"),
              "peak_key": key, "peak_bytes": measured, "planned_bytes": planned,
              "plan": memory})
    if measured and planned:
        r["peak_vs_plan"] = measured / planned
    return r


def seuf_check(folder, steps, on_gpu):
    model = read_json(folder / "seuf_model.json")
    if model is None and "seuf_model" not in steps:
        return None
    config = read_json(folder / "seuf_model_config.json") or {}
    s = {"model": dict(model or {}, **{k: config.get(k) for k in (
             "num_hidden_layers", "hidden_size", "n_routed_experts", "num_experts_per_tok",
             "n_shared_experts", "moe_intermediate_size", "vocab_size")}),
         "uoe": uoe_step(folder, "seuf_uoe", steps.get("seuf_uoe")),
         "full": uoe_step(folder, "seuf_uoe_full", steps.get(FULL_STEP))}
    refusal = log_line(folder, FULL_STEP, PLAN_REFUSAL)
    if s["full"]["status"] == "failed" and refusal:
        s["full"]["refused_by_plan"] = refusal
    plan = read_json(folder / "seuf_plan.json")
    if plan:  # `uoe plan` for one GPU: per method, memory and step time, compared with the runs
        tokens = plan.get("tokens_per_rank", 0)
        for layout in plan.get("layouts", []):
            key = "uoe" if layout["method"] == "seuf" else "full"
            p = {"cluster": plan.get("cluster"), "fits": layout["fits"],
                 "memory_bytes": layout["memory_bytes"]["total"], "step_s": layout["time_s"]["total"],
                 "tokens_per_s": tokens / layout["time_s"]["total"]}
            r = s[key]
            r["uoe_plan"] = p
            # The plan is of device memory: on a GPU, only a device peak compares with it.
            if r.get("peak_bytes") and (not on_gpu or not r["peak_key"].endswith("rss_bytes_max_rank")):
                r["peak_vs_uoe_plan"] = r["peak_bytes"] / p["memory_bytes"]
            if r.get("tokens_per_s"):
                r["tokens_per_s_vs_uoe_plan"] = r["tokens_per_s"] / p["tokens_per_s"]
    hf = read_json(folder / "seuf_hf.json")
    s["hf"] = hf or {"status": steps.get("seuf_hf", {}).get("status", "not run"),
                     "error": log_line(folder, "seuf_hf")}
    if hf:
        hf.pop("records", None)
    u = s["uoe"]
    if hf and u.get("tokens_per_s"):
        s["uoe_vs_hf_tokens_per_s"] = u["tokens_per_s"] / hf["tokens_per_s"]
    # Like with like: uoe's device peak against the peer's CUDA allocator peak, RSS against RSS.
    hf_key = "peak_rss_bytes" if u.get("peak_key", "").endswith("rss_bytes_max_rank") else "peak_allocated_bytes"
    if hf and u.get("peak_bytes") and hf.get(hf_key):
        s["uoe_vs_hf_peak_memory"] = u["peak_bytes"] / hf[hf_key]
        s["memory_compared"] = f"uoe {u['peak_key']} / HF {hf_key}"
    return s


def end_to_end(folder, steps):
    names = ("tiny_data", "tiny_pretrain", "unlearn_tiny_e2e")
    if not any(n in steps for n in names):
        return None
    e = {n: steps[n]["status"] if n in steps else "not run" for n in names}
    last = next((n for n in names if e[n] not in ("ok",)), None)
    if last and e[last] != "not run":
        e["error"] = log_line(folder, last)
    summary = read_json(folder / "unlearn_tiny_e2e_summary.json")
    if summary:
        e["before"], e["after"] = summary.get("before"), summary.get("after")
        e["selection"] = summary.get("selection")
    cpu = read_json(folder / "unlearn_tiny_cpu_summary.json")
    if summary and cpu:  # after-unlearning metrics on the device minus on the CPU
        e["cpu_selection"] = cpu.get("selection")
        e["after_minus_cpu"] = {
            f"{s}.{k}": summary["after"][s][k] - cpu["after"][s][k]
            for s in summary.get("after", {}) for k in summary["after"][s]
            if isinstance(summary["after"][s][k], (int, float)) and k in cpu.get("after", {}).get(s, {})}
    return e


def goals(moe, seuf):
    g = []
    for name, b in moe.items():
        if "uoe_layer_vs_cublas" in b:
            g.append((f"MoE layer {name}: uoe / cuBLAS same-FLOP GEMMs >= {GOAL_CUBLAS}", b["uoe_layer_vs_cublas"],
                      b["uoe_layer_vs_cublas"] >= GOAL_CUBLAS))
        g.append((f"MoE layer {name}: uoe / PyTorch reference >= {GOAL_VS_PYTORCH}", b["uoe_vs_pytorch"],
                  b["uoe_vs_pytorch"] >= GOAL_VS_PYTORCH))
    if seuf:
        for key, what in (("peak_vs_uoe_plan", "peak memory"), ("tokens_per_s_vs_uoe_plan", "tokens/s"),
                          ("peak_vs_plan", "peak memory against the start-up plan")):
            if key in seuf["uoe"]:
                ratio = seuf["uoe"][key]
                g.append((f"SEUF step: measured / `uoe plan` {what} within {GOAL_PLAN:.0%}"
                          if "uoe_plan" in key else f"SEUF step: measured {what} within {GOAL_PLAN:.0%}",
                          ratio, abs(ratio - 1) <= GOAL_PLAN))
        if "uoe_vs_hf_tokens_per_s" in seuf:
            ratio = seuf["uoe_vs_hf_tokens_per_s"]
            g.append((f"SEUF step: uoe / HF transformers tokens/s >= {GOAL_VS_HF}", ratio, ratio >= GOAL_VS_HF))
        if "uoe_vs_hf_peak_memory" in seuf:
            ratio = seuf["uoe_vs_hf_peak_memory"]
            g.append((f"SEUF step: uoe peak memory / HF transformers <= 1 ({seuf['memory_compared']})",
                      ratio, ratio <= 1))
    return [{"goal": n, "value": v, "met": m} for n, v, m in g]


def gib(b):
    return f"{b / 2**30:.2f} GiB" if isinstance(b, (int, float)) else "-"


def row(*cells):
    """A Markdown table row."""
    return "| " + " | ".join(map(str, cells)) + " |"


def header(*columns):
    """A Markdown table's header and separator lines."""
    return [row(*columns), row(*["---"] * len(columns))]


def num(v, fmt=".2f"):
    """v in `fmt`, with 3 significant digits where that would show less (CPU rehearsal rates)."""
    if not isinstance(v, (int, float)):
        return "-"
    return format(v, fmt) if abs(v) >= 10 or v == 0 else format(v, ".3g")


def targets(selection):
    """'(layer, expert) ...' of a summary.json selection."""
    experts = (selection or {}).get("experts") or []
    return " ".join(f"({e['layer']}, {e['expert']})" for e in experts) or "all"


# The step breakdown's phases in README order ("Step breakdown"): the disjoint top level first.
PHASES = ("step", "forward", "backward", "grad_reduction", "optimizer", "attention", "router",
          "permutation", "count_exchange", "token_all_to_all", "expert_compute", "combine",
          "shared_expert", "backward_token_all_to_all", "balance_counting")


def breakdown_table(seuf, full):
    """Where a uoe step's time goes (mean per step; on a GPU, CUDA events on the current stream)."""
    a, b = seuf.get("breakdown_ms", {}), full.get("breakdown_ms", {})
    if not a and not b:
        return []
    phases = [p for p in PHASES if p in a or p in b] + sorted((set(a) | set(b)) - set(PHASES))
    lines = ["", "Step breakdown of the uoe runs (`profile.breakdown`, mean ms per step; "
             "the inner phases are parts of forward/backward, summed over layers):", "",
             *header("phase", "uoe SEUF", "uoe full model")]
    return lines + [row(p, num(a.get(p), ".1f"), num(b.get(p), ".1f")) for p in phases]


def binaries_commit(env):
    """The commit the binaries are from (the prebuilt's MANIFEST, or this tree's when built here),
    with the tree's beside it where that differs (the device tool's copy may have no .git)."""
    binaries = env.get("binaries_commit") or env.get("commit") or "?"
    tree = env.get("tree_commit")
    where = f" ({env['binaries'].split(' (')[0]})" if env.get("binaries") else ""
    if tree and not tree.startswith("unknown") and not binaries.startswith(tree.split()[0]):
        return f"{binaries}{where}; this tree {tree}"
    return f"{binaries}{where}"


def markdown(summary):
    env, lines = summary["env"], []
    gpu = env.get("gpu", "no GPU (CPU rehearsal)")
    lines += [f"### {datetime.date.today().isoformat()}: {gpu}"
              + (f" ({env['gpu_memory_gib']} GiB, driver {env.get('driver', '?')})" if "gpu" in env else ""),
              "",
              f"Binaries from commit {binaries_commit(env)}, torch {env.get('torch', '?')} (CUDA {env.get('torch_cuda')}, "
              f"NCCL {env.get('nccl', '-')}), {env.get('cores')} cores; "
              f"`benchmarks/gpu/run_gpu_check.sh` {'PASSED' if summary['passed'] else 'FAILED'} in "
              f"{summary['elapsed_s']} s (budget {env.get('budget_s', '?')} s).", "",
              *header("step", "status", "s", "detail")]
    for s in summary["steps"]:
        if s["step"] in summary["no_gpu_tests"]:
            continue
        lines.append(f"| {s['step']} | {s['status']} | {s['seconds']} | {s['detail']} |")
    no_tests = sorted({n.removeprefix("test_gpu_").rsplit("_np", 1)[0] for n in summary["no_gpu_tests"]
                       if n.endswith("_np1")})
    if no_tests:
        lines.append(f"| (executables without GPU-named tests) | - | - | {', '.join(no_tests)} |")
    for name, t in summary["tests"].items():
        lines.append(f"\n`{name}`: passed {t['passed']}, failed {t['failed']}, skipped {t['skipped']}"
                     + (f"; failures: {', '.join(t['failures'])}" if t["failures"] else ""))
    lines.append(f"\nNCCL with 2 ranks on one GPU: {summary['nccl_two_ranks_one_gpu']}")
    moe = summary["moe_layer_bf16"]
    if moe:
        lines += ["", "MoE layer forward+backward, bf16, TFLOP/s of the routed-expert GEMMs "
                  "(9 per routed row):", "",
                  *header("shape", "T", "uoe layer", "cuBLAS same FLOPs", "uoe/cuBLAS", "PyTorch ref",
                          "uoe/ref", "per-expert mm")]
        for name, b in moe.items():
            shape = b["shape"]
            lines.append(row(f"{name} (H{shape['hidden']} F{shape['ffn']} E{shape['experts']} K{shape['top_k']})",
                             shape["tokens"], num(b["uoe_layer_tflops"], ".1f"), num(b.get("cublas_tflops"), ".1f"),
                             num(b.get("uoe_layer_vs_cublas")), num(b["pytorch_reference_tflops"], ".1f"),
                             num(b["uoe_vs_pytorch"]), num(b["per_expert_mm_tflops"], ".1f")))
        frozen = {name: b for name, b in moe.items() if "uoe_frozen_bank_tflops" in b}
        if frozen:
            lines += ["", "Expert bank with every expert frozen (SEUF's case for all experts but one: "
                      "forward and input gradients, 6 GEMMs per routed row), TFLOP/s:", "",
                      *header("shape", "path", "uoe frozen bank", "cuBLAS same FLOPs", "uoe/cuBLAS",
                              "per-expert mm")]
            for name, b in frozen.items():
                lines.append(row(name, b.get("uoe_frozen_bank_path", "?"), num(b["uoe_frozen_bank_tflops"], ".1f"),
                                 num(b.get("cublas_frozen_tflops"), ".1f"), num(b.get("uoe_frozen_bank_vs_cublas")),
                                 num(b["frozen_per_expert_mm_tflops"], ".1f")))
    seuf = summary["seuf_step"]
    if seuf:
        m, u, f, h = seuf["model"], seuf["uoe"], seuf["full"], seuf["hf"]
        lines += ["", f"SEUF step (GA + router anchor, one expert and its router) on a DeepSeek-V2-Lite-shaped "
                  f"model: {m.get('num_hidden_layers')} layers, hidden {m.get('hidden_size')}, "
                  f"{m.get('n_routed_experts')} routed experts top-{m.get('num_experts_per_tok')}, "
                  f"{num((m.get('parameters') or 0) / 1e9, '.2f')} B parameters, random bf16 weights "
                  f"(written in {m.get('seconds', '-')} s):", "",
                  *header("run", "status", "tokens/s", "`uoe plan` tokens/s", "peak memory", "`uoe plan`",
                          "start-up plan")]
        for label, r in (("uoe SEUF", u), ("uoe full model", f)):
            detail = r.get("refused_by_plan") or r.get("error") or ""
            p = r.get("uoe_plan", {})
            fits = "" if p.get("fits", True) else " (does not fit)"
            lines.append(f"| {label} | {r['status']}{': ' + detail if detail else ''} | {num(r.get('tokens_per_s'), '.0f')} | "
                         f"{num(p.get('tokens_per_s'), '.0f')} | {gib(r.get('peak_bytes'))} ({r.get('peak_key', '-')}) | "
                         f"{gib(p.get('memory_bytes'))}{fits} | {gib(r.get('planned_bytes'))} |")
        lines.append(f"| HF transformers {h.get('transformers', '')} | {h.get('status', 'ok')}"
                     f"{': ' + h['error'] if h.get('error') else ''} | {num(h.get('tokens_per_s'), '.0f')} | - | "
                     f"{gib(h.get('peak_allocated_bytes', h.get('peak_rss_bytes')))} "
                     f"({'CUDA allocated' if 'peak_allocated_bytes' in h else 'RSS'}) | - | - |")
        lines += breakdown_table(u, f)
    e2e = summary["end_to_end"]
    if e2e:
        lines += ["", f"End to end (`uoe unlearn configs/tiny/unlearn_seuf.yaml device=... parallel.ep_size=1`, "
                  f"after data + {e2e.get('tiny_pretrain')} CPU pretraining): {e2e['unlearn_tiny_e2e']}"
                  + (f" ({e2e['error']})" if e2e.get("error") else "")]
        if "after_minus_cpu" in e2e:
            worst = max(e2e["after_minus_cpu"].items(), key=lambda kv: abs(kv[1]), default=("-", 0.0))
            lines.append(f"Against the same run on the CPU: target {targets(e2e['selection'])} vs "
                         f"{targets(e2e['cpu_selection'])}; "
                         f"largest difference of the metrics after unlearning: {worst[0]} {worst[1]:+.4g}")
    if summary["goals"]:
        lines += ["", *header("goal", "value", "met")]
        lines += [f"| {g['goal']} | {g['value']:.2f} | {'yes' if g['met'] else 'no'} |" for g in summary["goals"]]
    return "\n".join(lines) + "\n"


def failure_summary(folder, elapsed, error):
    """gpu_check.json/md of a summary that broke: the error and the step records as they are."""
    env = read_json(folder / "env.json")
    env = env if isinstance(env, dict) else {}
    try:
        lines = (folder / "steps.jsonl").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    steps = []
    for line in filter(str.strip, lines):
        try:
            steps.append(json.loads(line))
        except ValueError:
            steps.append({"unparsed": line})
    commit = env.get("binaries_commit") or env.get("commit") or "?"
    (folder / "gpu_check.json").write_text(json.dumps(
        {"passed": False, "summary_error": error, "env": env, "elapsed_s": elapsed, "steps": steps},
        indent=2))
    records = "\n".join(lines)
    block = (f"### {datetime.date.today().isoformat()}: {env.get('gpu', 'no GPU (CPU rehearsal)')}\n\n"
             f"Binaries from commit {commit}: `summarize_gpu_check.py` failed ({error}), so the "
             f"check counts as FAILED; the step records (steps.jsonl) as they are:\n\n"
             f"```\n{records}\n```\n")
    (folder / "gpu_check.md").write_text(block)
    print("\n" + block)


def main(folder, elapsed):
    folder = pathlib.Path(folder)
    try:
        return summarize(folder, elapsed)
    except Exception as e:  # noqa: BLE001 - whatever broke, the check's outcome must be written
        # A summary that breaks (a file it did not expect, a null where a number was) still
        # leaves gpu_check.md/json saying so, and fails the check.
        traceback.print_exc()
        failure_summary(folder, elapsed, f"{type(e).__name__}: {e}")
        return 2


def summarize(folder, elapsed):
    steps_list = [json.loads(l) for l in (folder / "steps.jsonl").read_text().splitlines() if l]
    steps = {s["step"]: s for s in steps_list}
    env = read_json(folder / "env.json") or {}
    on_gpu = env.get("device", "cuda") == "cuda"
    tests, no_gpu_tests = {}, []
    for s in steps_list:
        if not s["step"].startswith("test_"):
            continue
        report = read_json(folder / f"{s['step']}.json")
        if not report:  # run_gpu_check.sh removes the reports of runs without a GPU-named test
            if s["step"].startswith("test_gpu_") and s["status"] == "ok":
                no_gpu_tests.append(s["step"])
            continue
        t = tests[s["step"]] = gtest_summary(report)
        if on_gpu and t["gpu_skipped"] and s["step"].endswith("_np1") and s["status"] == "ok":
            s["status"] = "failed"
            s["detail"] += "; GPU tests skipped: " + ", ".join(t["gpu_skipped"])
    moe = {}
    for path in sorted(folder.glob("moe_layer_*.json")):
        result = read_json(path)
        if result:
            moe[result["name"]] = moe_benchmark(result, read_json(folder / f"cublas_{result['name']}.json"))
    seuf = seuf_check(folder, steps, on_gpu)
    if seuf and seuf["full"].get("refused_by_plan"):
        steps[FULL_STEP]["status"] = "refused by plan"
    not_judged = (TWO_RANKS_ONE_GPU,)
    passed = all(s["status"] in ("ok", "refused by plan") for s in steps_list if s["step"] not in not_judged)
    summary = {"passed": passed, "env": env, "elapsed_s": elapsed, "steps": steps_list, "tests": tests,
               "no_gpu_tests": no_gpu_tests,
               "nccl_two_ranks_one_gpu": two_ranks_outcome(folder, steps, tests),
               "moe_layer_bf16": moe, "seuf_step": seuf, "end_to_end": end_to_end(folder, steps),
               "goals": goals(moe, seuf)}
    (folder / "gpu_check.json").write_text(json.dumps(summary, indent=2))
    block = markdown(summary)
    (folder / "gpu_check.md").write_text(block)
    print("\n" + block)
    print(f"written: {folder / 'gpu_check.json'}, {folder / 'gpu_check.md'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
