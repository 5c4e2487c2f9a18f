#!/usr/bin/env python3
"""Independent check of the rounding that `uoe export` reports in export_report.json (for
tests/app/hf_export.sh; needs torch and h5py, e.g. Debian's python3-torch and python3-h5py).

    check_export_rounding.py to-f32 <HF dir> <new dir>
        copies config.json and model.safetensors with every floating tensor converted to F32
    check_export_rounding.py check <original HF dir> <delta.h5> <exported HF dir> [--zero]
        recomputes every measure of export_report.json from the three inputs, exits 1 when one
        differs (or, with --zero, when the rounding is not exactly 0)

Safetensors files are read and written here from the format description (8-byte header length,
JSON header, data), not with uoe's code nor the safetensors package.
"""
import json
import math
import sys

import h5py
import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    """(metadata or None, {name: tensor}, {name: dtype name}) in the header's order."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    tensors, dtypes = {}, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=dtype) if e > b else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"])
        dtypes[name] = info["dtype"]
    return header.get("__metadata__"), tensors, dtypes


def read_h5_tensor(dataset):
    """A dataset of a uoe HDF5 file as a tensor: bfloat16 is stored as uint16 with the attribute
    dtype = "bfloat16" (src/formats/hdf5_file.h)."""
    values = dataset[()]
    dtype = dataset.attrs.get("dtype")
    if (dtype.decode() if isinstance(dtype, bytes) else dtype) == "bfloat16":
        return torch.from_numpy(values.view("int16").copy()).view(torch.bfloat16)
    return torch.from_numpy(values)


def write_safetensors(path, tensors, metadata):
    header, chunks, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        f.write(b"".join(chunks))


def to_f32(source, target):
    import os
    import shutil
    os.makedirs(target)
    shutil.copy(f"{source}/config.json", f"{target}/config.json")
    metadata, tensors, _ = read_safetensors(f"{source}/model.safetensors")
    as_f32 = {k: t.float() if t.is_floating_point() else t for k, t in tensors.items()}
    write_safetensors(f"{target}/model.safetensors", as_f32, metadata)


def measures(x, r, o):
    """The measures of checkpoint/hf_export.h (ExportedTensor), in float64."""
    x, r, o = x.double(), r.double(), o.double()
    error, update = r - x, x - o
    x_max, x_norm, update_norm = x.abs().max().item(), x.norm().item(), update.norm().item()
    max_abs = error.abs().max().item()
    updated = update != 0
    return {"max_abs_error": max_abs,
            "rel_max_error": max_abs / x_max if x_max > 0 else 0.0,
            "rel_l2_error": error.norm().item() / x_norm if x_norm > 0 else 0.0,
            "update_rel_l2_error": error.norm().item() / update_norm if update_norm > 0 else 0.0,
            "updated_elements": int(updated.sum()),
            "updated_elements_lost": int((updated & (r == o)).sum())}


def check(original_dir, delta_path, exported_dir, zero):
    report = json.load(open(f"{exported_dir}/export_report.json"))
    _, original, dtypes = read_safetensors(f"{original_dir}/model.safetensors")
    _, exported, exported_dtypes = read_safetensors(f"{exported_dir}/model.safetensors")
    problems = []
    with h5py.File(delta_path, "r") as delta:
        parameters = sorted(delta.keys())
        reported = {t["parameter"]: t for t in report["changed"]}
        if sorted(reported) != parameters:
            problems.append(f"report lists {sorted(reported)}, the delta has {parameters}")
        for parameter in parameters:
            t = reported.get(parameter)
            if t is None:
                continue
            name = t["name"]
            x = read_h5_tensor(delta[parameter])
            r, o = exported[name], original[name]
            if t["dtype"] != dtypes[name] or exported_dtypes[name] != dtypes[name]:
                problems.append(f"{name}: reported dtype {t['dtype']}, written {exported_dtypes[name]}, "
                                f"original {dtypes[name]}")
            if not torch.equal(r, x.to(r.dtype)):
                problems.append(f"{name}: written values are not the delta rounded to {t['dtype']}")
            for key, value in measures(x, r, o).items():
                same = value == t[key] if isinstance(value, int) else math.isclose(value, t[key], rel_tol=1e-12, abs_tol=0)
                if not same or (zero and key != "updated_elements" and value != 0):
                    problems.append(f"{name}: {key} reported {t[key]!r}, recomputed {value!r}")
            print(f"{name} {t['dtype']}: rel_max_error {t['rel_max_error']:.4g} "
                  f"rel_l2_error {t['rel_l2_error']:.4g} update_rel_l2_error {t['update_rel_l2_error']:.4g} "
                  f"lost {t['updated_elements_lost']}/{t['updated_elements']}")
    unchanged = [k for k in original if k not in {t["name"] for t in report["changed"]}]
    differing = [k for k in unchanged if not torch.equal(original[k], exported[k])]
    if differing:
        problems.append(f"tensors outside the report differ: {differing}")
    for key in ("rel_max_error", "update_rel_l2_error"):
        worst = max(report["changed"], key=lambda t: t[key])
        if report["worst"][key] != {"name": worst["name"], "value": worst[key]}:
            problems.append(f"worst {key} {report['worst'][key]} is not {worst['name']} ({worst[key]})")
    for p in problems:
        print(f"FAIL: {p}")
    return 1 if problems else 0


def main():
    if sys.argv[1:2] == ["to-f32"] and len(sys.argv) == 4:
        to_f32(sys.argv[2], sys.argv[3])
        return 0
    if sys.argv[1:2] == ["check"] and len(sys.argv) in (5, 6):
        return check(*sys.argv[2:5], zero=sys.argv[5:] == ["--zero"])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
