#!/usr/bin/env python3
"""safetensors files made and read by the official `safetensors` package, for uoe's C++ tests.

    safetensors_fixture.py write <dir>   writes <dir>/python_written.safetensors (committed as
                                         tests/fixtures/safetensors/python_written.safetensors)
    safetensors_fixture.py check <file>  reads a file that uoe wrote (tests/formats/test_safetensors.cpp
                                         writes it) and exits 0 when it holds exactly the expected
                                         tensors, dtypes, values and metadata

Both sides use the same tensors, defined by closed formulas that the C++ test recomputes.
Needs: torch and safetensors (pip install safetensors).
"""
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file


def expected_tensors():
    return {
        "a.f32": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8,
        "b.bf16": ((torch.arange(10, dtype=torch.float32) - 5) * 0.375).to(torch.bfloat16),
        "c.f16": (torch.arange(6, dtype=torch.float32).reshape(2, 1, 3) * 0.5 - 1).to(torch.float16),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        "ids.i64": torch.arange(-3, 4, dtype=torch.int64) * 1000000007,
        "scalar": torch.tensor(2.5, dtype=torch.float32),
    }


EXPECTED_METADATA = {"format": "pt", "note": "uoe fixture"}


def write(directory):
    path = f"{directory}/python_written.safetensors"
    save_file(expected_tensors(), path, metadata=EXPECTED_METADATA)
    print(f"wrote {path}")


def check(path):
    expected = expected_tensors()
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        names = sorted(f.keys())
        tensors = {name: f.get_tensor(name) for name in names}
    problems = []
    if metadata != EXPECTED_METADATA:
        problems.append(f"metadata {metadata} != {EXPECTED_METADATA}")
    if names != sorted(expected):
        problems.append(f"tensors {names} != {sorted(expected)}")
    for name, want in expected.items():
        got = tensors.get(name)
        if got is None:
            continue
        if got.dtype != want.dtype or got.shape != want.shape or not torch.equal(got, want):
            problems.append(f"{name}: got {got.dtype} {tuple(got.shape)} {got.flatten()[:6]}, "
                            f"want {want.dtype} {tuple(want.shape)} {want.flatten()[:6]}")
    if problems:
        print(f"{path}: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"{path}: OK ({len(names)} tensors)")
    return 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("write", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "write":
        write(argv[2])
        return 0
    return check(argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
