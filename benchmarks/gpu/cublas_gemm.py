#!/usr/bin/env python3
"""The cuBLAS comparator of the MoE layer benchmark: dense bf16 GEMMs of the same FLOPs.

moe_layer_bench counts 9 GEMMs per routed row (forward: gate, up, down; backward: the input and
the weight gradient of each), 2 * H * F FLOPs each, over the T*K routed rows. This script runs
those 9 GEMMs once with all T*K rows in one matrix (as if one expert took every row), with
torch.mm into preallocated outputs, so the FLOPs are exactly the layer's and the shapes are the
largest the layer could hand to cuBLAS: the GEMM rate the layer is measured against (goal: the
layer reaches at least 60 % of it). The same for frozen experts (SEUF's case): the 6 GEMMs without
weight gradients, the rate the benchmark's frozen bank (grouped GEMMs on CUDA) is set against.
Timed with CUDA events on the GPU (wall clock on the CPU), median over --iters after --warmup.

    cublas_gemm.py <moe_layer_<shape>.json> --device cuda --dtype bfloat16 --json out.json
"""
import argparse
import json
import statistics
import time

import torch


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench_json", help="moe_layer_bench's result (shape: hidden, ffn, top_k, tokens)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--json", required=True)
    return p.parse_args()


def main():
    args = parse_args()
    shape = json.load(open(args.bench_json))["shape"]
    rows, hidden, ffn = shape["tokens"] * shape["top_k"], shape["hidden"], shape["ffn"]
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)

    def rand(*size):
        return torch.randn(*size, device=device, dtype=dtype) * 0.02

    x, dy = rand(rows, hidden), rand(rows, hidden)                     # [n, H]
    w_gate, w_up, w_down = rand(ffn, hidden), rand(ffn, hidden), rand(hidden, ffn)
    gate, up, act = (torch.empty(rows, ffn, device=device, dtype=dtype) for _ in range(3))
    y, dx = torch.empty_like(x), torch.empty_like(x)                   # [n, H]
    d_act = torch.empty(rows, ffn, device=device, dtype=dtype)         # [n, F]
    g_gate, g_up = torch.empty_like(w_gate), torch.empty_like(w_up)    # [F, H]
    g_down = torch.empty_like(w_down)                                  # [H, F]

    def gemms(weight_gradients):
        torch.mm(x, w_gate.t(), out=gate)
        torch.mm(x, w_up.t(), out=up)
        torch.mm(act, w_down.t(), out=y)
        torch.mm(dy, w_down, out=d_act)
        torch.mm(d_act, w_gate, out=dx)
        torch.mm(d_act, w_up, out=dx)
        if weight_gradients:
            torch.mm(dy.t(), act, out=g_down)
            torch.mm(d_act.t(), x, out=g_gate)
            torch.mm(d_act.t(), x, out=g_up)

    cuda = device.type == "cuda"

    def median_seconds(weight_gradients):
        seconds = []
        for i in range(args.warmup + args.iters):
            if cuda:
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                gemms(weight_gradients)
                end.record()
                end.synchronize()
                elapsed = start.elapsed_time(end) / 1e3
            else:
                t0 = time.perf_counter()
                gemms(weight_gradients)
                elapsed = time.perf_counter() - t0
            if i >= args.warmup:
                seconds.append(elapsed)
        return statistics.median(seconds), min(seconds)

    median, minimum = median_seconds(True)
    frozen_median, _ = median_seconds(False)
    flops, frozen_flops = 9 * 2 * rows * hidden * ffn, 6 * 2 * rows * hidden * ffn
    result = {"rows": rows, "hidden": hidden, "ffn": ffn, "dtype": args.dtype,
              "device": torch.cuda.get_device_name(0) if cuda else "cpu",
              "torch": torch.__version__, "gflop": flops / 1e9, "median_s": median,
              "min_s": minimum, "tflops": flops / median / 1e12,
              "frozen_gflop": frozen_flops / 1e9, "frozen_median_s": frozen_median,
              "frozen_tflops": frozen_flops / frozen_median / 1e12, "iters": args.iters}
    json.dump(result, open(args.json, "w"), indent=2)
    print(f"cuBLAS-equivalent GEMMs [{rows} x {hidden} x {ffn}] {args.dtype} on {result['device']}: "
          f"9 GEMMs {median * 1e3:.3f} ms, {result['tflops']:.2f} TFLOP/s; frozen 6 GEMMs "
          f"{frozen_median * 1e3:.3f} ms, {result['frozen_tflops']:.2f} TFLOP/s")


if __name__ == "__main__":
    main()
