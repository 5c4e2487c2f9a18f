#!/usr/bin/env python3
"""Seed inputs for the libFuzzer targets of fuzz/ (fuzz/corpus/<target>/); standard library only.

fuzz_safetensors: hand-made safetensors files (8-byte little-endian header length, JSON header,
  data): an empty header, metadata only, BF16 + F16 tensors, a float32 whose data starts at an
  odd file offset (the reader copies instead of viewing), a zero-size tensor before a gap. The
  fixture tests/fixtures/safetensors/python_written.safetensors (written by the Python library)
  is copied next to them.
fuzz_tokenizer: the tokenizer.json fixtures of tests/tokenizer/data/tokenizers/ (made with HF
  tokenizers), cut down to their lowest ids and the merges among them so that each seed stays a
  few KB, each followed by NUL + a text to encode (+ NUL + a tokenizer_config.json for some).
The config seeds (fuzz/corpus/fuzz_config/) are plain YAML files written by hand.

Usage: python3 tools/make_fuzz_seeds.py
"""
import json
import os
import shutil
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
TOKENIZERS = os.path.join(ROOT, "tests", "tokenizer", "data", "tokenizers")

TEXT = ("Hello world! It's 2024: 8 experts, 3.14159 and 1e-9.\n\tdef f(x):  return x**2 "
        "caf\u00e9 na\u00efve \u4e2d\u6587\u5b57 \u3053\u3093\u306b\u3061\u306f \U0001F600 <|endoftext|> <s>")


def write_safetensors(name, header, data=b"", pad=0):
    text = json.dumps(header, separators=(",", ":")).encode() + b" " * pad
    with open(os.path.join(CORPUS, "fuzz_safetensors", name), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def safetensors_seeds():
    os.makedirs(os.path.join(CORPUS, "fuzz_safetensors"), exist_ok=True)
    shutil.copy(os.path.join(ROOT, "tests", "fixtures", "safetensors", "python_written.safetensors"),
                os.path.join(CORPUS, "fuzz_safetensors", "python_written.safetensors"))
    write_safetensors("empty_header.safetensors", {})
    write_safetensors("metadata_only.safetensors", {"__metadata__": {"format": "pt"}})
    write_safetensors("bf16_f16.safetensors",
                      {"w.bf16": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]},
                       "v.f16": {"dtype": "F16", "shape": [3], "data_offsets": [8, 14]}},
                      bytes(range(14)))
    # One byte of padding puts the data section at file offset 63.
    write_safetensors("misaligned.safetensors",
                      {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                      struct.pack("<f", 1.0), pad=1)
    write_safetensors("gap_and_zero_size.safetensors",
                      {"a": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
                       "b": {"dtype": "F32", "shape": [1, 1], "data_offsets": [4, 8]}}, bytes(8))


def shrink(tokenizer, keep):
    """Keeps the `keep` lowest vocabulary ids and the merges whose parts and result they hold."""
    model = tokenizer["model"]
    vocab = {token: i for token, i in model["vocab"].items() if i < keep}
    merges = []
    for merge in model["merges"]:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        if left in vocab and right in vocab and left + right in vocab:
            merges.append(merge)
    model["vocab"] = vocab
    model["merges"] = merges
    return tokenizer


def tokenizer_seeds():
    out = os.path.join(CORPUS, "fuzz_tokenizer")
    os.makedirs(out, exist_ok=True)
    config = {"bos_token": "<|endoftext|>", "eos_token": {"content": "<|endoftext|>"}}
    for name in sorted(os.listdir(TOKENIZERS)):
        if name == "cases.json":
            continue
        with open(os.path.join(TOKENIZERS, name), encoding="utf-8") as f:
            tokenizer = shrink(json.load(f), keep=320)
        seed = json.dumps(tokenizer, ensure_ascii=False, separators=(",", ":")).encode()
        seed += b"\0" + TEXT.encode()
        if name.startswith("gpt2"):
            seed += b"\0" + json.dumps(config).encode()
        with open(os.path.join(out, name), "wb") as f:
            f.write(seed)


if __name__ == "__main__":
    safetensors_seeds()
    tokenizer_seeds()
