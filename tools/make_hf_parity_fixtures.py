#!/usr/bin/env python3
"""Makes the HF transformers parity fixtures under tests/fixtures/hf/<name>/ (transformers 4.x) or
tests/fixtures/hf5/<name>/ (transformers 5.x; the set and the default folder follow the installed
version).

For each fixture it builds a small random-weight model with HF transformers, saves it with
save_pretrained (config.json as that transformers version writes it, model.safetensors with the
weights in bfloat16 or float32) and records what transformers computes from those exact weights in
fp32:

  reference.safetensors
    input_ids            [B, S] float32    token ids (integers; stored as F32, which uoe's
                                             safetensors reader supports, exact below 2^24)
    logits               [B, S, V] float32
    hidden.<l>           [B, S, H] float32  output of decoder layer l (l < L-1; HF's last hidden
                                             state has the final norm applied, so it is not kept)
    router_logits.<l>    [B*S, E] float32   router logits of MoE layer l
    topk_ids.<l>         [B*S, K] float32   chosen experts (integers), sorted ascending per token
    topk_weights.<l>     [B*S, K] float32   their combine weights, in the order of topk_ids
    metadata: transformers / torch versions, seed, weight dtype, smallest top-K selection margin

Run by developers, not by CI (it needs transformers and torch from PyPI, e.g. in a venv):

  python3 -m venv /work/venv-hf
  /work/venv-hf/bin/pip install torch transformers==4.57.6 safetensors     # or transformers==5.23.0
  /work/venv-hf/bin/python tools/make_hf_parity_fixtures.py [--out DIR] [--only NAME]

The committed fixtures: tests/fixtures/hf/ made with transformers 4.57.6 and torch 2.15.0 (CPU),
tests/fixtures/hf5/ with transformers 5.23.0 and torch 2.15.0 (CPU). Both versions' save_pretrained
write the hub's tensor names (one tensor per expert matrix).

DeepSeek-V2 note: DeepSeek's own modeling code (and transformers >= 5) multiplies the softmax scale
of MLA by yarn_mscale(factor, mscale_all_dim)^2 when rope_scaling sets mscale_all_dim; the native
DeepseekV2Attention of transformers 4.57 does not. Under 4.x the tool applies the factor to each
attention module's `scaling`, so the reference is DeepSeek's definition (as DeepseekV3Attention
already is).
"""
import argparse
import math
import os
import sys

import torch
import transformers
from safetensors.torch import save_file

BATCH, SEQ, VOCAB = 2, 12, 128
MARGIN = 2e-4  # smallest accepted gap between the K-th and (K+1)-th selection score
V5 = int(transformers.__version__.split(".")[0]) >= 5


def common(**extra):
    config = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6,
                  initializer_range=0.1, tie_word_embeddings=False, hidden_act="silu")
    config.update(extra)
    return config


def deepseek(**extra):
    config = common(num_hidden_layers=3, num_key_value_heads=4, intermediate_size=32,
                    moe_intermediate_size=8, n_routed_experts=8, num_experts_per_tok=3,
                    n_shared_experts=2, first_k_dense_replace=1, kv_lora_rank=32, q_lora_rank=None,
                    qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16)
    config.update(extra)
    return config


YARN_V2 = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "beta_fast": 32.0,
           "beta_slow": 1.0, "mscale": 0.707, "mscale_all_dim": 0.707}
YARN_V3 = {"type": "yarn", "factor": 8.0, "original_max_position_embeddings": 8, "beta_fast": 32.0,
           "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0}

# name -> (model class, config class, config keys[, weight dtype, e_score_correction_bias rule])
FIXTURES_4 = {
    "mixtral": ("MixtralForCausalLM", "MixtralConfig",
                common(intermediate_size=32, num_local_experts=4, num_experts_per_tok=2,
                       rope_theta=1e6)),
    # Layer 1 is dense (mlp_only_layers); shared expert with sigmoid gate; q/k/v biases.
    "qwen2_moe": ("Qwen2MoeForCausalLM", "Qwen2MoeConfig",
                  common(num_hidden_layers=3, intermediate_size=32, moe_intermediate_size=16,
                         shared_expert_intermediate_size=32, num_experts=6, num_experts_per_tok=2,
                         norm_topk_prob=False, mlp_only_layers=[1], decoder_sparse_step=1)),
    # Per-head q/k norm, head_dim != hidden / heads, 4:1 GQA, decoder_sparse_step 2 (layers 1, 3 MoE).
    "qwen3_moe": ("Qwen3MoeForCausalLM", "Qwen3MoeConfig",
                  common(num_hidden_layers=4, head_dim=24, num_key_value_heads=1,
                         intermediate_size=32, moe_intermediate_size=16, num_experts=4,
                         num_experts_per_tok=2,
                         norm_topk_prob=True, decoder_sparse_step=2, mlp_only_layers=[])),
    # q/k norm over the whole projection, no shared expert.
    "olmoe": ("OlmoeForCausalLM", "OlmoeConfig",
              common(num_key_value_heads=4, intermediate_size=16, num_experts=8,
                     num_experts_per_tok=2, norm_topk_prob=False, rms_norm_eps=1e-5)),
    # DeepSeek-V2-Lite shape: q_lora_rank null, greedy router, YaRN with mscale, dense layer 0.
    "deepseek_v2": ("DeepseekV2ForCausalLM", "DeepseekV2Config",
                    deepseek(topk_method="greedy", n_group=1, topk_group=1, norm_topk_prob=False,
                             routed_scaling_factor=1.5, rope_scaling=YARN_V2)),
    # DeepSeek-V2 (full) shape: compressed queries, group-limited greedy router, plain RoPE.
    "deepseek_v2_grouped": ("DeepseekV2ForCausalLM", "DeepseekV2Config",
                            deepseek(q_lora_rank=24, topk_method="group_limited_greedy", n_group=4,
                                     topk_group=2, norm_topk_prob=False,
                                     routed_scaling_factor=2.0, rope_scaling=None)),
    # DeepSeek-V3: sigmoid router with e_score_correction_bias, noaux_tc groups, YaRN.
    "deepseek_v3": ("DeepseekV3ForCausalLM", "DeepseekV3Config",
                    deepseek(q_lora_rank=24, n_shared_experts=1, n_group=4, topk_group=2,
                             norm_topk_prob=True, routed_scaling_factor=2.5, rope_scaling=YARN_V3)),
}


# transformers 5.x: RoPE as rope_parameters; settings whose defaults hide a missing key (rope_theta,
# YaRN) differ from the class defaults; bf16 and fp32 weights; the fp32 models are narrower (and
# use a smaller vocabulary) to stay small.
def small(**extra):
    return dict(dict(hidden_size=32, vocab_size=64, intermediate_size=16), **extra)


def rope(theta, **yarn):
    return dict(rope_type="yarn", rope_theta=theta, **yarn) if yarn else dict(rope_type="default",
                                                                               rope_theta=theta)


def yarn(legacy):
    """A 4.x rope_scaling dict's YaRN fields (without `type`)."""
    return {key: value for key, value in legacy.items() if key != "type"}


def negative_bias(num_experts):
    """Every second expert -1 (its biased score sigmoid - 1 < 0), the others small noise: top-3 of
    the 2 x 2 experts of the kept groups must take a negative one, which a dropped group's expert
    filled with 0 instead of -inf would beat."""
    bias = torch.randn(num_experts) * 0.05
    bias[0::2] -= 1.0
    return bias


FIXTURES_5 = {
    "mixtral": ("MixtralForCausalLM", "MixtralConfig",
                common(intermediate_size=32, num_local_experts=4, num_experts_per_tok=2,
                       rope_parameters=rope(5e5)), torch.bfloat16),
    # Explicit head_dim != hidden / heads, the class-default rope_theta (1e6) written by 5.x.
    "mixtral_fp32": ("MixtralForCausalLM", "MixtralConfig",
                     common(**small(head_dim=12, num_local_experts=4, num_experts_per_tok=2)),
                     torch.float32),
    # Layer 1 dense (mlp_only_layers), sigmoid-gated shared expert, q/k/v biases, rope_theta 1e6.
    "qwen2_moe": ("Qwen2MoeForCausalLM", "Qwen2MoeConfig",
                  common(num_hidden_layers=3, intermediate_size=32, moe_intermediate_size=16,
                         shared_expert_intermediate_size=32, num_experts=6, num_experts_per_tok=2,
                         norm_topk_prob=False, mlp_only_layers=[1], decoder_sparse_step=1,
                         rope_parameters=rope(1e6)), torch.bfloat16),
    # decoder_sparse_step 2 (layers 1, 3 MoE), renormalised top-K, tied embeddings.
    "qwen2_moe_fp32": ("Qwen2MoeForCausalLM", "Qwen2MoeConfig",
                       common(**small(num_hidden_layers=4, moe_intermediate_size=8,
                                      shared_expert_intermediate_size=16, num_experts=4,
                                      num_experts_per_tok=2, norm_topk_prob=True,
                                      decoder_sparse_step=2, tie_word_embeddings=True,
                                      rope_parameters=rope(5e4))), torch.float32),
    # Per-head q/k norm, head_dim != hidden / heads, 4:1 GQA, decoder_sparse_step 2; 5.x writes
    # the expert count as num_local_experts.
    "qwen3_moe": ("Qwen3MoeForCausalLM", "Qwen3MoeConfig",
                  common(num_hidden_layers=4, head_dim=24, num_key_value_heads=1,
                         intermediate_size=32, moe_intermediate_size=16, num_experts=4,
                         num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=2,
                         rope_parameters=rope(1e6)), torch.bfloat16),
    # YaRN as Qwen3 long-context configs set it (factor, original length, no mscale); layer 0 dense.
    "qwen3_moe_yarn_fp32": ("Qwen3MoeForCausalLM", "Qwen3MoeConfig",
                            common(**small(num_hidden_layers=3, moe_intermediate_size=8,
                                           num_experts=6, num_experts_per_tok=2,
                                           norm_topk_prob=False, mlp_only_layers=[0],
                                           rope_parameters=rope(1e6, factor=4.0,
                                                                original_max_position_embeddings=16))),
                            torch.float32),
    "olmoe": ("OlmoeForCausalLM", "OlmoeConfig",
              common(num_key_value_heads=4, intermediate_size=16, num_experts=8,
                     num_experts_per_tok=2, norm_topk_prob=False, rms_norm_eps=1e-5,
                     rope_parameters=rope(5e4)), torch.bfloat16),
    "olmoe_fp32": ("OlmoeForCausalLM", "OlmoeConfig",
                   common(**small(num_key_value_heads=4, intermediate_size=8, num_experts=8,
                                  num_experts_per_tok=3, norm_topk_prob=True, rms_norm_eps=1e-5)),
                   torch.float32),
    # DeepSeek-V2-Lite shape: q_lora_rank null, greedy router, YaRN with mscale, dense layer 0.
    "deepseek_v2": ("DeepseekV2ForCausalLM", "DeepseekV2Config",
                    deepseek(topk_method="greedy", norm_topk_prob=False, routed_scaling_factor=1.5,
                             rope_parameters=rope(1e4, **yarn(YARN_V2))),
                    torch.bfloat16),
    # DeepSeek-V2 shape: compressed queries, group_limited_greedy, 2 dense layers, rope_theta 5e4.
    "deepseek_v2_grouped_fp32": ("DeepseekV2ForCausalLM", "DeepseekV2Config",
                                 deepseek(**small(q_lora_rank=12, topk_method="group_limited_greedy",
                                                  n_group=4, topk_group=2, norm_topk_prob=False,
                                                  num_hidden_layers=4, first_k_dense_replace=2,
                                                  routed_scaling_factor=2.0,
                                                  rope_parameters=rope(5e4))), torch.float32),
    # DeepSeek-V3: sigmoid router with e_score_correction_bias, noaux_tc groups, YaRN.
    "deepseek_v3": ("DeepseekV3ForCausalLM", "DeepseekV3Config",
                    deepseek(q_lora_rank=24, n_shared_experts=1, n_group=4, topk_group=2,
                             norm_topk_prob=True, routed_scaling_factor=2.5,
                             rope_parameters=rope(1e4, **yarn(YARN_V3))),
                    torch.bfloat16),
    # Group-limited routing where kept experts have negative biased scores (dropped groups must be
    # -inf, not 0), non-interleaved RoPE.
    "deepseek_v3_negative_bias_fp32": ("DeepseekV3ForCausalLM", "DeepseekV3Config",
                                       deepseek(**small(q_lora_rank=12, n_shared_experts=1,
                                                        n_group=4, topk_group=2,
                                                        norm_topk_prob=True,
                                                        routed_scaling_factor=2.5,
                                                        rope_interleave=False,
                                                        rope_parameters=rope(1e4))),
                                       torch.float32, negative_bias),
}
FIXTURES = FIXTURES_5 if V5 else FIXTURES_4


def yarn_mscale(scale, mscale):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def apply_deepseek_v2_mscale(model, config):
    rope = config.rope_scaling or {}
    if not rope.get("mscale_all_dim"):
        return
    factor = yarn_mscale(rope["factor"], rope["mscale_all_dim"]) ** 2
    for layer in model.model.layers:
        layer.self_attn.scaling *= factor


def moe_blocks(model):
    """(layer index, MoE block) for every MoE layer."""
    blocks = []
    for index, layer in enumerate(model.model.layers):
        block = getattr(layer, "block_sparse_moe", None) or layer.mlp  # 4.x Mixtral: block_sparse_moe
        if hasattr(block, "experts"):
            blocks.append((index, block))
    return blocks


class RouterRecorder:
    """Forward hooks on each MoE block's gate: router logits, and the gate's own top-K where the
    gate returns it (4.x DeepSeek: (ids, weights); every 5.x router: (logits, weights, ids)). For
    the 4.x softmax gates (nn.Linear) the top-K is the block's rule."""

    def __init__(self, model, config):
        self.config = config
        self.records = {}
        for index, block in moe_blocks(model):
            block.gate.register_forward_hook(self.hook(index))

    def hook(self, index):
        def record(gate, inputs, output):
            hidden = inputs[0].reshape(-1, inputs[0].shape[-1])
            logits = torch.nn.functional.linear(hidden.float(), gate.weight.float())
            if isinstance(output, tuple) and len(output) == 3:
                _, weights, ids = output
            elif isinstance(output, tuple):
                ids, weights = output
            else:
                ids, weights = self.softmax_topk(logits)
            self.records[index] = (logits, ids, weights.float())
        return record

    def softmax_topk(self, logits):
        probs = torch.softmax(logits, dim=-1)
        weights, ids = torch.topk(probs, self.config.num_experts_per_tok, dim=-1)
        if getattr(self.config, "norm_topk_prob", False) or self.config.model_type == "mixtral":
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return ids, weights


def selection_margin(name, config, logits, gate):
    """Smallest gap between the K-th and (K+1)-th score the selection ranks, over all tokens (and
    between the kept and dropped groups for group-limited routers)."""
    k = config.num_experts_per_tok
    scores = torch.softmax(logits, dim=-1)
    n_group = getattr(config, "n_group", 1) or 1
    margins = []
    v3 = name.startswith("deepseek_v3")
    if v3:
        scores = torch.sigmoid(logits) + gate.e_score_correction_bias.float()
    if n_group > 1 and (v3 or config.topk_method == "group_limited_greedy"):
        grouped = scores.view(scores.shape[0], n_group, -1)
        group_scores = grouped.topk(2, dim=-1)[0].sum(-1) if v3 else grouped.max(dim=-1).values
        top = group_scores.sort(dim=-1, descending=True).values
        margins.append((top[:, config.topk_group - 1] - top[:, config.topk_group]).min())
        keep = group_scores.topk(config.topk_group, dim=-1).indices
        mask = torch.zeros_like(group_scores).scatter_(1, keep, 1.0).bool()
        fill = float("-inf") if v3 else 0.0  # as DeepSeek's V3 / V2 code
        scores = scores.masked_fill(~mask.repeat_interleave(grouped.shape[-1], dim=1), fill)
    top = scores.sort(dim=-1, descending=True).values
    margins.append((top[:, k - 1] - top[:, k]).min())
    return min(float(m) for m in margins)


def build(name, seed):
    model_class, config_class, keys, *rest = FIXTURES[name]
    bias_rule = rest[1] if len(rest) > 1 else (lambda n: torch.randn(n) * 0.05)
    torch.manual_seed(seed)
    config = getattr(transformers, config_class)(**keys)
    config._attn_implementation = "eager"
    model = getattr(transformers, model_class)(config).float().eval()
    with torch.no_grad():
        # The bf16 copy that is saved is what both sides compute with (in fp32).
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
        for _, block in moe_blocks(model):
            if hasattr(block.gate, "e_score_correction_bias"):
                bias = bias_rule(block.gate.e_score_correction_bias.shape[0])
                block.gate.e_score_correction_bias.copy_(bias.to(torch.bfloat16).float())
    if model_class == "DeepseekV2ForCausalLM" and not V5:
        apply_deepseek_v2_mscale(model, config)
    return model, config


def make_fixture(name, out_dir, max_tries=50):
    _, _, _, *rest = FIXTURES[name]
    dtype = rest[0] if rest else torch.bfloat16
    for seed in range(max_tries):
        model, config = build(name, seed)
        recorder = RouterRecorder(model, config)
        generator = torch.Generator().manual_seed(1000 + seed)
        input_ids = torch.randint(0, config.vocab_size, (BATCH, SEQ), generator=generator)
        with torch.no_grad():
            out = model(input_ids=input_ids, output_hidden_states=True)
        blocks = dict(moe_blocks(model))
        margin = min(selection_margin(name, config, logits, blocks[index].gate)
                     for index, (logits, _, _) in recorder.records.items())
        if margin >= MARGIN:
            break
    else:
        sys.exit(f"{name}: no seed below {max_tries} gives top-K margins >= {MARGIN}")

    tensors = {"input_ids": input_ids.float().contiguous(),
               "logits": out.logits.float().contiguous()}
    for layer in range(config.num_hidden_layers - 1):
        tensors[f"hidden.{layer}"] = out.hidden_states[layer + 1].float().contiguous()
    for index, (logits, ids, weights) in recorder.records.items():
        order = ids.argsort(dim=-1)
        tensors[f"router_logits.{index}"] = logits.contiguous()
        tensors[f"topk_ids.{index}"] = ids.gather(1, order).float().contiguous()
        tensors[f"topk_weights.{index}"] = weights.gather(1, order).contiguous()

    target = os.path.join(out_dir, name)
    os.makedirs(target, exist_ok=True)
    model.to(dtype).save_pretrained(target)
    if os.path.exists(os.path.join(target, "generation_config.json")):
        os.remove(os.path.join(target, "generation_config.json"))
    save_file(tensors, os.path.join(target, "reference.safetensors"),
              metadata={"transformers": transformers.__version__, "torch": torch.__version__,
                        "seed": str(seed), "min_topk_margin": f"{margin:.3e}",
                        "weights": str(dtype).replace("torch.", ""),
                        "architecture": config.architectures[0] if config.architectures
                        else type(model).__name__})
    size = sum(os.path.getsize(os.path.join(target, f)) for f in os.listdir(target))
    print(f"{name}: seed {seed}, top-K margin {margin:.2e}, {size / 1024:.0f} KiB in {target}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                      "fixtures", "hf5" if V5 else "hf"))
    parser.add_argument("--only", choices=sorted(FIXTURES), action="append")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.only or FIXTURES:
        make_fixture(name, os.path.abspath(args.out))


if __name__ == "__main__":
    main()
