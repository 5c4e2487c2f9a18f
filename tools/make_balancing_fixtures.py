"""Reference values for uoe's load-balancing losses (tests/train/test_balancing_loss.cpp).

Router logits of 2 MoE layers (a batch of B=8 sequences of S=4 tokens, E=6 experts, top-2) with
a padding mask; for each layer alone: transformers' mixtral load_balancing_loss_func on the whole
batch (with and without attention_mask) and the gradient of the masked one with respect to the
logits, the same function on each sequence alone (DeepSeek-V2's per-sequence scope), and
switch_transformers' router_z_loss_func (unmasked) plus the masked mean of logsumexp^2. Writes tests/fixtures/balancing/hf_losses.json.
Run with /work/venv-ref/bin/python tools/make_balancing_fixtures.py.
"""
import json
import pathlib

import torch
import transformers
from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func
from transformers.models.switch_transformers.modeling_switch_transformers import router_z_loss_func

B, S, E, K, LAYERS = 8, 4, 6, 2, 2
torch.manual_seed(7)
logits = [torch.randn(B * S, E, dtype=torch.float32) * 1.5 for _ in range(LAYERS)]
mask = torch.ones(B, S, dtype=torch.int64)
mask[1, 3:] = 0
mask[2, 1:] = 0
mask[5, 2:] = 0
mask[6, :] = 0  # a sequence of padding only

layers = []
for z in logits:
    leaf = z.clone().requires_grad_(True)
    masked = load_balancing_loss_func((leaf,), E, K, mask)
    masked.backward()
    layers.append({
        "logits": z.tolist(),
        "hf_aux": load_balancing_loss_func((z,), E, K, None).item(),
        "hf_aux_masked": masked.item(),
        "hf_aux_masked_grad": leaf.grad.tolist(),
        "hf_aux_per_sequence": [
            load_balancing_loss_func((z.view(B, S, E)[b],), E, K, mask[b:b + 1]).item()
            if mask[b].sum() > 0 else 0.0 for b in range(B)],
        "hf_z": router_z_loss_func(z.view(B, S, E)).item(),
        "z_masked": ((torch.logsumexp(z, -1) ** 2 * mask.view(-1)).sum() / mask.sum()).item(),
    })
out = {
    "transformers": transformers.__version__, "torch": torch.__version__,
    "batch": B, "seq": S, "experts": E, "top_k": K,
    "attention_mask": mask.tolist(), "layers": layers,
    "hf_aux_masked_both_layers": load_balancing_loss_func(tuple(logits), E, K, mask).item(),
}
path = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/balancing/hf_losses.json"
path.write_text(json.dumps(out) + "\n")
print("wrote", path)
