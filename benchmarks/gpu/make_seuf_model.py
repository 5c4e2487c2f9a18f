#!/usr/bin/env python3
"""Writes a DeepSeek-V2-Lite-shaped HF model directory with random bf16 weights, and a forget text.

The SEUF-step check (run_gpu_check.sh) loads this one directory into uoe and into HF transformers.
Defaults are DeepSeek-V2-Lite's shape (deepseek-ai/DeepSeek-V2-Lite config.json: 27 layers, the
first dense, hidden 2048, MLA with kv_lora_rank 512 and no q LoRA, 16 heads, 64 routed experts of
width 1408, top-6, 2 shared experts, vocabulary 102400; 15.7 B parameters, 31 GB in bf16); the
flags shrink it for a rehearsal. The config is tests/fixtures/mc/deepseek_v2/config.json (written
by tools/make_mc_fixtures.py, loaded by uoe and transformers in the tests) with the sizes replaced.

Weights: N(0, 0.02) drawn on --device (the GPU when there is one: 15.7 B numbers take seconds
there), norms 1; written one shard per decoder layer (+ one for the embeddings and the head) with
model.safetensors.index.json, under HF's per-expert names, as the hub checkpoint has them.
Also writes tokenizer.json (the fixture's 900-token byte-level BPE; the model's vocabulary is
larger, so every id is valid) and forget.txt: random words, about 1.35 * --sequences * --seq-len
tokens (uoe tokenize and the HF peer both cut them into sequences of --seq-len tokens).

    make_seuf_model.py <output dir> [--layers 27 --hidden 2048 ...] [--device cuda]
"""
import argparse
import json
import pathlib
import random
import shutil
import time

import torch
from safetensors.torch import save_file

FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "tests/fixtures/mc/deepseek_v2"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--layers", type=int, default=27)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--intermediate", type=int, default=10944, help="dense layer 0's MLP width")
    p.add_argument("--moe-intermediate", type=int, default=1408)
    p.add_argument("--experts", type=int, default=64)
    p.add_argument("--shared-experts", type=int, default=2)
    p.add_argument("--top-k", type=int, default=6)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--kv-lora-rank", type=int, default=512)
    p.add_argument("--qk-nope-head-dim", type=int, default=128)
    p.add_argument("--qk-rope-head-dim", type=int, default=64)
    p.add_argument("--v-head-dim", type=int, default=128)
    p.add_argument("--vocab", type=int, default=102400)
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--sequences", type=int, default=4)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def config_json(a):
    config = json.loads((FIXTURE / "config.json").read_text())
    config.update(num_hidden_layers=a.layers, hidden_size=a.hidden, intermediate_size=a.intermediate,
                  moe_intermediate_size=a.moe_intermediate, n_routed_experts=a.experts,
                  n_shared_experts=a.shared_experts, num_experts_per_tok=a.top_k,
                  num_attention_heads=a.heads, num_key_value_heads=a.heads,
                  kv_lora_rank=a.kv_lora_rank, qk_nope_head_dim=a.qk_nope_head_dim,
                  qk_rope_head_dim=a.qk_rope_head_dim, v_head_dim=a.v_head_dim,
                  vocab_size=a.vocab, initializer_range=0.02)
    return config


def layer_shapes(a, layer):
    """{name: shape} of decoder layer `layer` (layer 0 dense, the others MoE, as first_k_dense_replace 1)."""
    p = f"model.layers.{layer}."
    q_head = a.qk_nope_head_dim + a.qk_rope_head_dim
    shapes = {
        p + "input_layernorm.weight": [a.hidden],
        p + "post_attention_layernorm.weight": [a.hidden],
        p + "self_attn.q_proj.weight": [a.heads * q_head, a.hidden],
        p + "self_attn.kv_a_proj_with_mqa.weight": [a.kv_lora_rank + a.qk_rope_head_dim, a.hidden],
        p + "self_attn.kv_a_layernorm.weight": [a.kv_lora_rank],
        p + "self_attn.kv_b_proj.weight": [a.heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank],
        p + "self_attn.o_proj.weight": [a.hidden, a.heads * a.v_head_dim],
    }

    def mlp(prefix, width):
        shapes.update({prefix + "gate_proj.weight": [width, a.hidden],
                       prefix + "up_proj.weight": [width, a.hidden],
                       prefix + "down_proj.weight": [a.hidden, width]})

    if layer == 0:
        mlp(p + "mlp.", a.intermediate)
    else:
        shapes[p + "mlp.gate.weight"] = [a.experts, a.hidden]
        for e in range(a.experts):
            mlp(p + f"mlp.experts.{e}.", a.moe_intermediate)
        mlp(p + "mlp.shared_experts.", a.moe_intermediate * a.shared_experts)
    return shapes


def tensors(shapes, device, generator):
    out = {}
    for name, shape in shapes.items():
        if name.endswith("norm.weight"):
            out[name] = torch.ones(shape, dtype=torch.bfloat16)
        else:
            t = torch.empty(shape, device=device, dtype=torch.float32).normal_(0, 0.02, generator=generator)
            out[name] = t.to(torch.bfloat16).cpu()
    return out


def forget_text(a):
    rng = random.Random(a.seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    # One record; a random word of 2-9 letters is about 2.7 tokens of the fixture's BPE, so
    # seq_len / 2 words per sequence give about 1.35 * --sequences chunks of --seq-len tokens.
    words = ("".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
             for _ in range(a.sequences * a.seq_len // 2))
    return " ".join(words) + "\n"


def main():
    a = parse_args()
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    generator = torch.Generator(device=a.device).manual_seed(a.seed)
    shards = [{"model.embed_tokens.weight": [a.vocab, a.hidden]}]
    shards += [layer_shapes(a, layer) for layer in range(a.layers)]
    shards.append({"model.norm.weight": [a.hidden], "lm_head.weight": [a.vocab, a.hidden]})
    weight_map, total_bytes, elements = {}, 0, 0
    for i, shapes in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        chunk = tensors(shapes, a.device, generator)
        save_file(chunk, str(out / file), metadata={"format": "pt"})
        for name, t in chunk.items():
            weight_map[name] = file
            total_bytes += t.numel() * 2
            elements += t.numel()
    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total_bytes}, "weight_map": weight_map}, indent=2))
    (out / "config.json").write_text(json.dumps(config_json(a), indent=2))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(FIXTURE / name, out / name)
    (out / "forget.txt").write_text(forget_text(a))
    summary = {"parameters": elements, "bytes": total_bytes, "shards": len(shards),
               "seconds": round(time.time() - start, 1), "device": a.device}
    (out / "make_seuf_model.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {out}: {elements / 1e9:.3f} B parameters, {total_bytes / 2**30:.2f} GiB bf16 in "
          f"{len(shards)} shards, {summary['seconds']} s (weights drawn on {a.device})")


if __name__ == "__main__":
    main()
