#!/usr/bin/env python3
"""Summary of a run_gpu_check.sh run: <dir>/gpu_check.json and a printed table.

Reads <dir>/env.json, steps.jsonl (one line per step), the GoogleTest JSON reports
(test_*.json) and the benchmark results (moe_layer_<shape>.json). A GPU test that was skipped
(no NCCL backend in the build, or no CUDA device seen) counts as a failure of its step: on the
GPU machine every test must run (in a CPU rehearsal, env.json device "cpu", they skip). Exit code 0 when every step but the 2-rank NCCL attempt (which
NCCL is expected to refuse on one GPU; its outcome is reported) is ok. Standard library only.

    summarize_gpu_check.py <dir> <elapsed seconds>
"""
import json
import pathlib
import sys

# The tests that need the GPU, by GoogleTest name; they must have run, not been skipped.
GPU_TESTS = ("/nccl", "CudaWithNccl")
TWO_RANKS_ONE_GPU = "test_parallel_nccl_np2"


def two_ranks_outcome(folder, steps, tests):
    """What NCCL did with 2 ranks on one GPU: passed, refused (its message) or failed."""
    step = next((s for s in steps if s["step"] == TWO_RANKS_ONE_GPU), None)
    if step is None:
        return "not run"
    if step["status"] == "ok":
        counts = tests.get(TWO_RANKS_ONE_GPU, {})
        return "skipped (no GPU)" if counts.get("skipped") and not counts.get("passed") else "passed"
    try:
        log = (folder / f"{TWO_RANKS_ONE_GPU}.log").read_text(errors="replace")
    except OSError:
        log = ""
    refusal = next((line.strip() for line in log.splitlines() if "Duplicate GPU" in line), None)
    return f"refused by NCCL: {refusal}" if refusal else f"{step['status']} ({step['detail']})"


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


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
                if any(tag in name for tag in GPU_TESTS):
                    summary["gpu_skipped"].append(name)
            else:
                summary["passed"] += 1
    return summary


def benchmark_summary(result):
    flops = result["expert_gflop_fwd_bwd"] * 1e9

    def tflops(key):
        return flops / result[key]["median_s"] / 1e12

    return {
        "shape": result["shape"],
        "dtype": result.get("dtype"),
        "check": result["check"],
        "uoe_layer_tflops": tflops("layer"),
        "uoe_expert_bank_tflops": tflops("expert_bank"),
        "gemm_tflops": tflops("gemm"),
        "pytorch_reference_tflops": tflops("python_reference"),
        "uoe_vs_pytorch": result["ratios"]["speedup_vs_python"],
        "uoe_layer_vs_gemm": result["ratios"]["layer_vs_gemm"],
        "uoe_layer_median_s": result["layer"]["median_s"],
        "pytorch_reference_median_s": result["python_reference"]["median_s"],
    }


def main(folder, elapsed):
    folder = pathlib.Path(folder)
    steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines() if line]
    env = read_json(folder / "env.json") or {}
    on_gpu = env.get("device", "cuda") == "cuda"
    tests = {}
    for step in steps:
        report = read_json(folder / f"{step['step']}.json")
        if step["step"].startswith("test_") and report:
            tests[step["step"]] = gtest_summary(report)
            if on_gpu and tests[step["step"]]["gpu_skipped"] and step["status"] == "ok":
                step["status"] = "failed"
                step["detail"] += "; GPU tests skipped: " + ", ".join(tests[step["step"]]["gpu_skipped"])
    benchmarks = {}
    for path in sorted(folder.glob("moe_layer_*.json")):
        result = read_json(path)
        if result:
            benchmarks[result["name"]] = benchmark_summary(result)
    passed = all(s["status"] == "ok" for s in steps if s["step"] != TWO_RANKS_ONE_GPU)
    summary = {"passed": passed, "env": env, "elapsed_s": elapsed,
               "steps": steps, "tests": tests,
               "nccl_two_ranks_one_gpu": two_ranks_outcome(folder, steps, tests),
               "moe_layer_bf16": benchmarks}
    (folder / "gpu_check.json").write_text(json.dumps(summary, indent=2))

    print(f"\nGPU check {'PASSED' if passed else 'FAILED'}: {env.get('gpu', env.get('device'))}, "
          f"torch {env.get('torch', '?')}, NCCL {env.get('nccl', '?')}, {elapsed} s")
    for step in steps:
        print(f"  {step['step']:<26} {step['status']:<8} {step['seconds']:>4} s  {step['detail']}")
    for name, t in tests.items():
        print(f"  {name:<26} passed {t['passed']}, failed {t['failed']}, skipped {t['skipped']}"
              + (f"  failures: {', '.join(t['failures'])}" if t["failures"] else ""))
    if benchmarks:
        print(f"\n  {'MoE layer fwd+bwd (bf16)':<26} {'uoe TFLOP/s':>12} {'PyTorch ref':>12} "
              f"{'ratio':>7} {'GEMM TFLOP/s':>13} {'uoe/GEMM':>9}")
        for name, b in benchmarks.items():
            print(f"  {name:<26} {b['uoe_layer_tflops']:>12.1f} {b['pytorch_reference_tflops']:>12.1f} "
                  f"{b['uoe_vs_pytorch']:>7.2f} {b['gemm_tflops']:>13.1f} {b['uoe_layer_vs_gemm']:>9.2f}")
    print(f"  NCCL with 2 ranks on one GPU: {summary['nccl_two_ranks_one_gpu']}")
    print(f"\n  written: {folder / 'gpu_check.json'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
