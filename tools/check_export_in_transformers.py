#!/usr/bin/env python3
"""Developer check (transformers + torch from PyPI, not run by CI): an HF directory written by
`uoe export` loads in transformers, and differs from the original only in the tensors uoe trained.

Prints the tensors whose values differ, the largest logit difference on a fixed input, for
the original vs itself reloaded (must be 0) and vs the export (must be > 0 when the delta changed
anything that the input reaches), and the largest rounding to the checkpoint's dtype that uoe
reported in the export's export_report.json.
Usage: check_export_in_transformers.py <original HF dir> <exported HF dir>"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM


def main():
    original_dir, exported_dir = sys.argv[1:3]
    load = lambda d: AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    original, again, exported = load(original_dir), load(original_dir), load(exported_dir)
    a, b = original.state_dict(), exported.state_dict()
    assert a.keys() == b.keys(), f"different tensor names: {sorted(a.keys() ^ b.keys())[:5]}"
    changed = [name for name in a if not torch.equal(a[name], b[name])]
    print(f"{len(changed)} of {len(a)} tensors differ:")
    for name in changed:
        print(f"  {name}")
    torch.manual_seed(0)
    ids = torch.randint(0, original.config.vocab_size, (2, 16))
    with torch.no_grad():
        reference = original(ids).logits
        same = (again(ids).logits - reference).abs().max().item()
        moved = (exported(ids).logits - reference).abs().max().item()
    print(f"max |logits| difference: original reloaded {same:.3g}, export {moved:.3g}")
    report = f"{exported_dir}/export_report.json"
    if os.path.exists(report):
        worst = json.load(open(report))["worst"]
        print("largest rounding reported by uoe: " + ", ".join(
            f"{key} {w['value']:.3g} ({w['name']})" for key, w in worst.items() if w))
    return 0 if same == 0 and changed else 1


if __name__ == "__main__":
    sys.exit(main())
