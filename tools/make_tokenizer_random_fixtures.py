#!/usr/bin/env python3
"""Differential fixture for tests/tokenizer/test_hf_tokenizer.cpp: random multi-script texts and
what HF tokenizers makes of them (ids without and with special tokens, both decodes) for the
tokenizers of tests/tokenizer/data/tokenizers/ and the real Mixtral tokenizer when present.

Each text joins 1 to 6 random pieces of: ASCII words and contractions, digits, accented Latin
with combining marks in random order, CJK, kana, Hangul syllables and conjoining jamo, Arabic,
Devanagari, emoji with skin tones, ZWJ and variation selectors, flags, control characters,
private-use and unassigned code points, odd white space, and characters whose general category
changed between Unicode 14 and 16 or whose normalization data came after Unicode 9 (the versions
of Python 3.11's `unicodedata` and of HF tokenizers' normalizers; HF's Oniguruma has Unicode 16).

Needs: tokenizers, unicodedata2==16.0.0 (pip). Run by developers, not by CI:
  python3 tools/make_tokenizer_random_fixtures.py [--count 400] [--seed 17]
      [--hf-dir ../shared/data/hf] [--out tests/tokenizer/data/tokenizers/random_cases.json]
A larger run elsewhere: --out DIR/random_cases.json, copy the <style>.json files to DIR and run
test_hf_tokenizer with UOE_TOKENIZER_FIXTURES=DIR.
"""
import argparse
import json
import os
import random
import sys
import unicodedata

import tokenizers
import unicodedata2
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_fixtures import OUT_DIR, ROOT, record  # noqa: E402
from gen_unicode_tables import assigned_by  # noqa: E402

STYLES = ["gpt2_style", "neox_style", "qwen2_style", "llama3_style", "deepseek_v3_style",
          "spm_style"]
WORDS = ["the", "The", "model", "experts", "don't", "it's", "WE'LL", "they'Re", "I'M", "you've",
         "x", "a1b2", "Straße", "naïve", "HTTP", "__init__", "k8s", "ſ", "K"]
WHITE = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u1680", "\u2002", "\u2009", "\u200a",
         "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u200b", "\ufeff", "\u0085", "\x0b",
         "\x0c", "\x1c", "\x1f"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["…", "«", "»", "—", "¿", "。", "、", "！"]
SKIN = [chr(c) for c in range(0x1F3FB, 0x1F400)]


def char_range(first, last):
    return [chr(c) for c in range(first, last + 1)]


def pools(derived_age):
    old = assigned_by(derived_age, (9, 0))
    new_category, new_normalization = [], []
    for c in range(0x80, 0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        if unicodedata.category(ch) != unicodedata2.category(ch):
            new_category.append(ch)
        if not old[c] and (unicodedata2.combining(ch) or unicodedata2.decomposition(ch)):
            new_normalization.append(ch)
    return {
        "latin_marks": char_range(0x61, 0x7A) + char_range(0xC0, 0x17F) + char_range(0x300, 0x36F),
        "cjk": char_range(0x4E00, 0x4FFF) + char_range(0x9FA0, 0x9FFF)
               + char_range(0x20000, 0x20100),
        "kana": char_range(0x3041, 0x30FF),
        "hangul": char_range(0xAC00, 0xAD00) + char_range(0x1100, 0x1112)
                  + char_range(0x1161, 0x1175) + char_range(0x11A8, 0x11C2),
        "arabic": char_range(0x600, 0x6FF),
        "devanagari": char_range(0x900, 0x97F),
        "control": char_range(0x0, 0x1F) + char_range(0x7F, 0x9F),
        "private_unassigned": char_range(0xE000, 0xE0FF) + char_range(0xF0000, 0xF0010)
                              + ["\U0010FFFD", "\uFFFE", "\uFFFF", "\U0001FFFF", "\u0378",
                                 "\U000E0001", "\U0002FFFF"],
        "new_category": new_category,
        "new_normalization": new_normalization,
    }


def emoji(rng):
    base = chr(rng.choice([0x1F466, 0x1F469, 0x1F468, 0x1F44D, 0x1F3C3, 0x1F9D1, 0x2764, 0x1F600,
                           0x1FAE8, 0x1FAF8, 0x1F7D9, 0x1FACE, 0x1FAC6]))
    kind = rng.randrange(5)
    if kind == 0:
        return base + rng.choice(SKIN)
    if kind == 1:  # ZWJ sequence, e.g. family or person + skin tone + ZWJ + object
        parts = [base + rng.choice(SKIN + ["", "\ufe0f"]) for _ in range(rng.randint(2, 4))]
        return "\u200d".join(parts)
    if kind == 2:  # flag: two regional indicators
        return chr(0x1F1E6 + rng.randrange(26)) + chr(0x1F1E6 + rng.randrange(26))
    if kind == 3:  # keycap
        return rng.choice("#*0123456789") + "\ufe0f\u20e3"
    return base


def piece(rng, pool):
    kind = rng.choice(["word", "digits", "punct", "white", "emoji"] + list(pool))
    if kind == "word":
        return rng.choice(WORDS)
    if kind == "digits":
        return "".join(rng.choice("0123456789٠١٢٣०१२३") for _ in range(rng.randint(1, 7)))
    if kind == "punct":
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 3)))
    if kind == "white":
        return rng.choice(WHITE)
    if kind == "emoji":
        return emoji(rng)
    return "".join(rng.choice(pool[kind]) for _ in range(rng.randint(1, 5)))


def random_text(rng, pool):
    out = []
    for _ in range(rng.randint(1, 6)):
        out.append(piece(rng, pool))
        out.append(rng.choice(["", " ", " ", "\n"] + WHITE[:4]))
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--hf-dir", default=os.path.join(ROOT, "..", "shared", "data", "hf"))
    parser.add_argument("--derived-age", default="/usr/share/unicode/DerivedAge.txt")
    parser.add_argument("--out", default=os.path.join(OUT_DIR, "random_cases.json"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pool = pools(args.derived_age)
    texts = [random_text(rng, pool) for _ in range(args.count)]
    result = {"tokenizers_version": tokenizers.__version__, "seed": args.seed, "texts": texts,
              "tokenizers": {}}
    files = {name: os.path.join(OUT_DIR, f"{name}.json") for name in STYLES}
    files["mixtral"] = os.path.join(args.hf_dir, "Mixtral-8x7B-v0.1", "tokenizer.json")
    for name, path in files.items():
        if not os.path.exists(path):
            print(f"no {path}: {name} not recorded")
            continue
        result["tokenizers"][name] = {"cases": record(Tokenizer.from_file(path), texts)}
    out = args.out
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out}: {len(texts)} texts, tokenizers {sorted(result['tokenizers'])}, "
          f"{os.path.getsize(out)} bytes; pools: new categories {len(pool['new_category'])}, "
          f"new normalization {len(pool['new_normalization'])}")


if __name__ == "__main__":
    main()
