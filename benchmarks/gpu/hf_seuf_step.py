#!/usr/bin/env python3
"""The HF transformers peer of uoe's SEUF step in the GPU check: the same step on the same model.

Loads the HF directory (make_seuf_model.py) with transformers in bf16 on --device, makes only
routed expert --expert of decoder layer --layer and that layer's router trainable, and runs
--steps optimizer steps of gradient ascent + router anchor, as uoe's seuf_step.yaml does:

  loss = -(mean token NLL of the forget sequence) + anchor_weight * mean_t ||p_t - onehot(e)||^2

(p_t: the target layer's router softmax over all routed experts, fp32), AdamW (no weight decay),
gradient clipping at 1.0, constant learning rate, one sequence of --seq-len tokens per step.
The data is forget.txt of the directory, tokenized with its tokenizer.json by `tokenizers` and
cut into --seq-len chunks, as `uoe tokenize` does.

transformers 5 keeps a layer's experts as fused parameters (gate_up_proj [E, 2F, H], down_proj
[E, H, F]); a single expert cannot be marked trainable on its own, so the whole fused tensors of
the target layer require gradients and a hook zeroes every other expert's gradient (with no weight
decay AdamW then leaves them unchanged): what an HF user does to train one expert. The step time
and memory count that, as they would for such a user. Older transformers with one module per
expert: only that expert's parameters are trainable.

Reports tokens/s (median over the steps after the first) and the peak memory (CUDA: the
allocator's peak, allocated and reserved; CPU: peak RSS) in --json.

    hf_seuf_step.py <model dir> --layer 16 --expert 20 --steps 4 --json hf_seuf_step.json
"""
import argparse
import json
import pathlib
import resource
import statistics
import time

import torch


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--layer", type=int, default=16)
    p.add_argument("--expert", type=int, default=20)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--learning-rate", type=float, default=1e-5)
    p.add_argument("--anchor-weight", type=float, default=1.0)
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", required=True)
    return p.parse_args()


def forget_sequences(model_dir, seq_len):
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    ids = tokenizer.encode((model_dir / "forget.txt").read_text().rstrip("\n")).ids
    chunks = [ids[i:i + seq_len] for i in range(0, len(ids) - seq_len + 1, seq_len)]
    assert chunks, f"forget.txt has {len(ids)} tokens, fewer than --seq-len {seq_len}"
    return chunks


def trainable_parameters(model, layer, expert):
    """Marks the target expert and router trainable; returns them (and masks fused experts' grads)."""
    for p in model.parameters():
        p.requires_grad_(False)
    mlp = model.model.layers[layer].mlp
    experts = mlp.experts
    fused = hasattr(experts, "gate_up_proj")  # transformers 5: [E, ...] tensors
    params = [mlp.gate.weight]
    params += [experts.gate_up_proj, experts.down_proj] if fused else list(experts[expert].parameters())
    for p in params:
        p.requires_grad_(True)
    for p in params[1:] if fused else []:
        keep = torch.zeros(p.shape[0], *([1] * (p.dim() - 1)), dtype=p.dtype, device=p.device)
        keep[expert] = 1
        p.register_hook(lambda grad, keep=keep: grad * keep)
    return params, mlp.gate


def load(auto_class, model_dir, device):
    """The model in bf16 on `device`: straight there with accelerate's device_map when it is
    installed (no host copy of the model), else loaded on the host and moved."""
    try:
        import accelerate  # noqa: F401  (device_map needs it)
        return auto_class.from_pretrained(model_dir, dtype=torch.bfloat16, device_map=str(device))
    except (ImportError, ValueError, RuntimeError) as e:
        print(f"loading on the host, then moving to {device} ({type(e).__name__}: {e})", flush=True)
    return auto_class.from_pretrained(model_dir, dtype=torch.bfloat16).to(device)


def main():
    a = parse_args()
    import transformers
    from transformers import AutoModelForCausalLM

    device = torch.device(a.device)
    cuda = device.type == "cuda"
    model_dir = pathlib.Path(a.model)
    t0 = time.time()
    model = load(AutoModelForCausalLM, model_dir, device)
    load_s = time.time() - t0
    params, gate = trainable_parameters(model, a.layer, a.expert)
    router = {}
    gate.register_forward_hook(lambda module, inputs, output: router.__setitem__(
        "logits", output[0] if isinstance(output, tuple) else output))
    optimizer = torch.optim.AdamW(params, lr=a.learning_rate, weight_decay=0.0)
    sequences = forget_sequences(model_dir, a.seq_len)
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    seconds, records = [], []
    for step in range(a.steps):
        ids = torch.tensor([sequences[step % len(sequences)]], device=device)  # [1, S]
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        logits = model(input_ids=ids).logits.float()                          # [1, S, V]
        nll = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
        probs = router["logits"].float().reshape(-1, gate.weight.shape[0]).softmax(-1)  # [S, E]
        onehot = torch.zeros_like(probs)
        onehot[:, a.expert] = 1
        anchor = (probs - onehot).pow(2).sum(-1).mean()
        loss = -nll + a.anchor_weight * anchor
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
        records.append({"step": step + 1, "loss": loss.item(), "forget_loss": -nll.item(),
                        "anchor_loss": anchor.item(), "grad_norm": grad_norm.item(),
                        "seconds": seconds[-1]})
        print(json.dumps(records[-1]), flush=True)

    timed = seconds[1:] or seconds
    tokens = a.seq_len - 1
    result = {"transformers": transformers.__version__, "torch": torch.__version__,
              "device": torch.cuda.get_device_name(0) if cuda else "cpu",
              "layer": a.layer, "expert": a.expert, "steps": a.steps, "seq_len": a.seq_len,
              "tokens_per_step": tokens, "load_s": load_s,
              "step_s_median": statistics.median(timed),
              "tokens_per_s": tokens / statistics.median(timed),
              "requires_grad_elements": sum(p.numel() for p in params),
              "trained_elements": params[0].numel() + sum(
                  p[a.expert].numel() if p.dim() == 3 else p.numel() for p in params[1:]),
              "records": records}
    if cuda:
        result["peak_allocated_bytes"] = torch.cuda.max_memory_allocated()
        result["peak_reserved_bytes"] = torch.cuda.max_memory_reserved()
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    json.dump(result, open(a.json, "w"), indent=2)
    print(f"HF transformers {transformers.__version__} SEUF step on {result['device']}: "
          f"{result['tokens_per_s']:.0f} tokens/s, {result['step_s_median'] * 1e3:.1f} ms/step")


if __name__ == "__main__":
    main()
