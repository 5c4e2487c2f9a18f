#!/usr/bin/python3
"""PyTorch reference MoE layer, written the way HF transformers writes its sparse MoE blocks
(MixtralSparseMoeBlock / Qwen2MoeSparseMoeBlock / OlmoeSparseMoeBlock): router softmax + top-k,
a loop over experts with one-hot masks and torch.where, index_add_ into the output.

Run with Debian's /usr/bin/python3 (python3-torch 1.13): it uses the same libtorch as the C++
benchmark, so torch.manual_seed + torch.randn give the same numbers in both. On a GPU machine
(--device cuda), run it with the Python whose torch the C++ code was built against.

The weights and inputs are drawn on the CPU, moved to --device, and the check step runs in fp32;
then the block, inputs and output gradient are converted to --dtype for the timed steps.

Init spec (shared with moe_layer_bench.cpp), drawn in this order after torch.manual_seed(seed):
  router weight [E, H] * 0.02
  for each expert e: gate_proj [F, H] * 0.02, up_proj [F, H] * 0.02, down_proj [H, F] * 0.02
  hidden [T, H], grad_out [T, H]

Writes <prefix>.{out,grad_hidden,grad_router,grad_last_expert_gate_proj}.f32 (raw fp32) for the
C++ correctness check. Then either
  - standalone: times --warmup + --iters forward+backward steps and writes <prefix>.json, or
  - --serve 1 (how moe_layer_bench runs it, to interleave the two implementations round by
    round): prints "ready", then runs one forward+backward step per "step" line on stdin and
    answers each with a JSON line {"forward_s": .., "backward_s": ..}; ends at end of input.
"""
import argparse
import ctypes
import json
import os
import pathlib
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="custom")
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--ffn", type=int, default=704)
    p.add_argument("--experts", type=int, default=16)
    p.add_argument("--top-k", type=int, default=4)
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--norm-topk-prob", type=int, choices=(0, 1), default=0)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--out-prefix", required=True)
    p.add_argument("--serve", type=int, choices=(0, 1), default=0)
    args = p.parse_args()
    if args.warmup < 1 or args.iters < 3:
        p.error("need at least 1 warm-up and 3 timed iterations")
    return args


ARGS = parse_args()
# OpenBLAS (pthread build) reads its thread count only at load time.
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402


class Expert(nn.Module):
    """HF MixtralBlockSparseTop2MLP / Qwen2MoeMLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, hidden, ffn):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, ffn, bias=False)
        self.up_proj = nn.Linear(hidden, ffn, bias=False)
        self.down_proj = nn.Linear(ffn, hidden, bias=False)
        self.act_fn = nn.SiLU()

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class SparseMoeBlock(nn.Module):
    """HF-style sparse MoE block (transformers 4.4x MixtralSparseMoeBlock.forward)."""

    def __init__(self, hidden, ffn, experts, top_k, norm_topk_prob):
        super().__init__()
        self.num_experts = experts
        self.top_k = top_k
        self.norm_topk_prob = norm_topk_prob
        self.gate = nn.Linear(hidden, experts, bias=False)
        self.experts = nn.ModuleList([Expert(hidden, ffn) for _ in range(experts)])

    def forward(self, hidden_states):
        # hidden_states [B, S, H]
        batch_size, sequence_length, hidden_dim = hidden_states.shape
        hidden_states = hidden_states.view(-1, hidden_dim)  # [T, H]
        router_logits = self.gate(hidden_states)  # [T, E]
        routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
        routing_weights, selected_experts = torch.topk(routing_weights, self.top_k, dim=-1)
        if self.norm_topk_prob:
            routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        routing_weights = routing_weights.to(hidden_states.dtype)  # [T, K]
        final_hidden_states = torch.zeros(
            (batch_size * sequence_length, hidden_dim),
            dtype=hidden_states.dtype, device=hidden_states.device)
        # [E, K, T]: expert_mask[e, k, t] = 1 when token t's k-th choice is expert e
        expert_mask = F.one_hot(selected_experts, num_classes=self.num_experts).permute(2, 1, 0)
        for expert_idx in range(self.num_experts):
            expert_layer = self.experts[expert_idx]
            idx, top_x = torch.where(expert_mask[expert_idx])
            current_state = hidden_states[None, top_x].reshape(-1, hidden_dim)  # [n_e, H]
            current_hidden_states = expert_layer(current_state) * routing_weights[top_x, idx, None]
            final_hidden_states.index_add_(0, top_x, current_hidden_states.to(hidden_states.dtype))
        final_hidden_states = final_hidden_states.reshape(batch_size, sequence_length, hidden_dim)
        return final_hidden_states, router_logits


def init_from_spec(block, a):
    """The shared init spec; returns (hidden [T, H], grad_out [T, H])."""
    torch.manual_seed(a.seed)
    std = 0.02
    with torch.no_grad():
        block.gate.weight.copy_(torch.randn(a.experts, a.hidden) * std)
        for expert in block.experts:
            expert.gate_proj.weight.copy_(torch.randn(a.ffn, a.hidden) * std)
            expert.up_proj.weight.copy_(torch.randn(a.ffn, a.hidden) * std)
            expert.down_proj.weight.copy_(torch.randn(a.hidden, a.ffn) * std)
    hidden = torch.randn(a.tokens, a.hidden)
    grad_out = torch.randn(a.tokens, a.hidden)
    return hidden, grad_out


def write_f32(path, tensor):
    """Raw fp32 bytes (without numpy, which a torch install may lack)."""
    t = tensor.detach().to("cpu", torch.float32).contiguous()
    pathlib.Path(path).write_bytes(ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()))


def serve(step):
    """The line protocol of --serve: stdout carries only protocol lines."""
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            print(f"moe_reference.py: unexpected request {line.strip()!r}", file=sys.stderr)
            return 2
        _, _, forward_s, backward_s = step()
        print(json.dumps({"forward_s": forward_s, "backward_s": backward_s}), flush=True)
    return 0


def main(a):
    torch.set_num_threads(a.threads)
    block = SparseMoeBlock(a.hidden, a.ffn, a.experts, a.top_k, bool(a.norm_topk_prob))
    hidden, grad_out = init_from_spec(block, a)
    block.to(a.device)
    hidden, grad_out = hidden.to(a.device), grad_out.to(a.device)
    prefix = pathlib.Path(a.out_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    def step():
        block.zero_grad(set_to_none=True)
        x = hidden.clone().view(1, a.tokens, a.hidden).requires_grad_(True)  # [1, T, H]
        sync()
        t0 = time.perf_counter()
        out, _ = block(x)
        sync()
        t1 = time.perf_counter()
        out.view(a.tokens, a.hidden).backward(grad_out)
        sync()
        t2 = time.perf_counter()
        return out, x, t1 - t0, t2 - t1

    out, x, _, _ = step()
    write_f32(f"{prefix}.out.f32", out.view(a.tokens, a.hidden))
    write_f32(f"{prefix}.grad_hidden.f32", x.grad.view(a.tokens, a.hidden))
    write_f32(f"{prefix}.grad_router.f32", block.gate.weight.grad)
    write_f32(f"{prefix}.grad_last_expert_gate_proj.f32", block.experts[-1].gate_proj.weight.grad)
    del out, x
    dtype = getattr(torch, a.dtype)
    block.to(dtype)
    hidden, grad_out = hidden.to(dtype), grad_out.to(dtype)
    if a.serve:
        return serve(step)

    for _ in range(a.warmup):
        step()
    forward_s, backward_s = [], []
    for _ in range(a.iters):
        _, _, f, b = step()
        forward_s.append(f)
        backward_s.append(b)
    total_s = [f + b for f, b in zip(forward_s, backward_s)]

    def median(v):
        v = sorted(v)
        n = len(v)
        return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])

    result = {
        "benchmark": "moe_reference_python",
        "name": a.name,
        "shape": {"hidden": a.hidden, "ffn": a.ffn, "experts": a.experts, "top_k": a.top_k,
                  "tokens": a.tokens, "norm_topk_prob": bool(a.norm_topk_prob)},
        "threads": a.threads,
        "device": a.device,
        "dtype": a.dtype,
        "torch": torch.__version__,
        "warmup": a.warmup,
        "iters": a.iters,
        "timing": {"median_s": median(total_s), "min_s": min(total_s), "max_s": max(total_s),
                   "samples_s": total_s},
        "forward_median_s": median(forward_s),
        "backward_median_s": median(backward_s),
    }
    with open(f"{prefix}.json", "w") as f:
        json.dump(result, f, indent=2)
    print(f"moe_reference.py {a.name}: fwd+bwd {median(total_s):.3f} s "
          f"(fwd {median(forward_s):.3f}, bwd {median(backward_s):.3f}), "
          f"{a.tokens / median(total_s):.0f} tok/s, {a.threads} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
