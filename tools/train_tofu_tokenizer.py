#!/usr/bin/env python3
"""Trains the byte-level BPE tokenizer of the TOFU benchmark on the TOFU questions and answers.

Writes benchmarks/tofu/tokenizer/{tokenizer.json,tokenizer_config.json}, which `uoe tokenize`
loads in C++ (tokenizer/hf_tokenizer). Needs the `tokenizers` library (e.g. /work/venv-hf/bin/python):
  python tools/train_tofu_tokenizer.py --data ../shared/data/tofu --vocab-size 4096
The committed output is what the benchmark uses; rerunning with the same data and size gives the
same merges (the BPE trainer is deterministic).
"""
import argparse
import json
import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOS = "<|endoftext|>"


def texts(data_dir):
    """Every question and answer of full.json and the perturbed variants of the eval files."""
    for name in ("full.json", "forget10_perturbed.json", "retain_perturbed.json"):
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                yield record["question"]
                yield record["answer"]
                for key in ("paraphrased_answer", "paraphrased_question"):
                    if key in record:
                        yield record[key]
                yield from record.get("perturbed_answer", [])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/tofu")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--out", default="benchmarks/tofu/tokenizer")
    args = parser.parse_args()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=args.vocab_size, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(texts(args.data), trainer=trainer)
    os.makedirs(args.out, exist_ok=True)
    tokenizer.save(os.path.join(args.out, "tokenizer.json"))
    with open(os.path.join(args.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"eos_token": EOS, "bos_token": None, "model_max_length": 128}, f, indent=2)
        f.write("\n")
    print(f"vocabulary {tokenizer.get_vocab_size()} -> {args.out}/tokenizer.json")


if __name__ == "__main__":
    main()
