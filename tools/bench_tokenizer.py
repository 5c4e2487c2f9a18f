#!/usr/bin/env python3
"""Tokenizer speed and large-scale parity: `uoe tokenize` against HF tokenizers on the same corpus.

Builds a JSON-lines corpus of a few MB (docstrings and comments of the Python standard library,
with the multilingual fixture texts of tests/tokenizer/data/tokenizers/cases.json mixed in), then for
each tokenizer: encodes every document with HF tokenizers (one thread, `encode` per document and
`encode_batch`), runs `uoe tokenize` on the same file, checks that every sequence of the written
token dataset equals HF's ids, and reports tokens/s of both and their ratio as JSON.

Tokenizers: the real Mixtral tokenizer (../shared/data/hf) and a 32k-vocabulary byte-level BPE
configured like Qwen2, trained here on the corpus itself.
Needs: pip install tokenizers h5py. Developer tool, not run by CI.

Usage: python3 tools/bench_tokenizer.py --uoe build/uoe [--mb 4] [--out bench_tokenizer.json]
"""
import argparse
import ast
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # HF tokenizers on one thread, like uoe
import h5py  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, normalizers  # noqa: E402
from tokenizers import pre_tokenizers, processors, trainers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_fixtures import QWEN2_PATTERN  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def build_corpus(target_bytes):
    texts = json.load(open(os.path.join(ROOT, "tests/tokenizer/data/tokenizers/cases.json"),
                           encoding="utf-8"))["texts"]
    multilingual = [t for t in texts if t.strip()]
    docs, size = [], 0
    for path in sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "**", "*.py"),
                                 recursive=True)):
        try:
            source = open(path, encoding="utf-8").read()
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 80:
                    doc += "\n" + multilingual[len(docs) % len(multilingual)]
                    docs.append(doc)
                    size += len(doc.encode("utf-8"))
        if size >= target_bytes:
            break
    return docs


def train_qwen2_style(docs, path):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=32000, show_progress=False,
                                  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(docs, trainer)
    tok.save(path)


def bench(name, tokenizer_path, corpus, docs, uoe, work):
    tok = Tokenizer.from_file(tokenizer_path if tokenizer_path.endswith(".json")
                              else os.path.join(tokenizer_path, "tokenizer.json"))
    start = time.perf_counter()
    expected = [tok.encode(d, add_special_tokens=True).ids for d in docs]
    hf_single = time.perf_counter() - start
    start = time.perf_counter()
    tok.encode_batch(docs, add_special_tokens=True)
    hf_batch = time.perf_counter() - start
    num_tokens = sum(len(e) for e in expected)

    config = os.path.join(work, f"{name}.yaml")
    with open(config, "w") as f:
        json.dump({"output_dir": os.path.join(work, name),
                   "tokenize": {"tokenizer": tokenizer_path, "input": corpus,
                                "output": "tokens.h5", "format": "jsonl"}}, f)
    start = time.perf_counter()
    subprocess.run([uoe, "tokenize", config], check=True, stdout=subprocess.DEVNULL)
    uoe_wall = time.perf_counter() - start
    summary = json.load(open(os.path.join(work, name, "summary.json")))
    with h5py.File(os.path.join(work, name, "tokens.h5"), "r") as f:
        tokens, offsets = f["tokens"][:], f["offsets"][:]
    got = [tokens[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]
    mismatches = [i for i, (a, b) in enumerate(zip(got, expected)) if a != b]
    mismatches += list(range(min(len(got), len(expected)), max(len(got), len(expected))))
    uoe_tps = summary["tokens_per_s"]
    hf_tps = num_tokens / hf_single
    return {"tokenizer": name, "documents": len(docs), "tokens": num_tokens,
            "matching_documents": len(docs) - len(mismatches),
            "first_mismatches": mismatches[:5],
            "hf_tokens_per_s_encode": round(hf_tps),
            "hf_tokens_per_s_encode_batch": round(num_tokens / hf_batch),
            "uoe_tokens_per_s": round(uoe_tps),
            "uoe_command_wall_s": round(uoe_wall, 2),
            "ratio_uoe_over_hf_encode": round(uoe_tps / hf_tps, 2),
            "ratio_uoe_over_hf_encode_batch": round(uoe_tps * hf_batch / num_tokens, 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uoe", required=True)
    parser.add_argument("--mb", type=float, default=4.0)
    parser.add_argument("--hf-dir", default=os.path.join(ROOT, "..", "shared", "data", "hf"))
    parser.add_argument("--out", default="bench_tokenizer.json")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="uoe_bench_tok_")
    docs = build_corpus(int(args.mb * 1e6))
    corpus = os.path.join(work, "corpus.jsonl")
    with open(corpus, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
    corpus_mb = os.path.getsize(corpus) / 1e6
    tokenizers = []
    mixtral = os.path.join(args.hf_dir, "Mixtral-8x7B-v0.1")
    if os.path.exists(os.path.join(mixtral, "tokenizer.json")):
        tokenizers.append(("mixtral", mixtral))
    qwen = os.path.join(work, "qwen2_style_32k.json")
    train_qwen2_style(docs, qwen)
    tokenizers.append(("qwen2_style_32k", qwen))
    results = {"corpus_mb": round(corpus_mb, 2), "documents": len(docs), "results": []}
    for name, path in tokenizers:
        r = bench(name, path, corpus, docs, args.uoe, work)
        print(json.dumps(r))
        results["results"].append(r)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.out} (corpus {corpus_mb:.1f} MB, work dir {work})")


if __name__ == "__main__":
    main()
