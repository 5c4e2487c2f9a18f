#!/usr/bin/env python3
"""Which Unicode versions does HF tokenizers use? (docs/tokenizer.md; rerun when it changes.)

1. Regex classes: for every code point, whether HF's Split regex (its Oniguruma) matches
   \\p{L}, \\p{N}, ... ; compared with the general categories of `unicodedata2` (pip) and of
   Python's own `unicodedata`: the version with no difference is the one to generate.
2. Rust's char::is_numeric (the Digits pre-tokenizer) compared the same way.
3. Normalization: per Unicode age (DerivedAge.txt), whether HF's NFKD gives the decompositions
   and HF's NFD the combining classes of `unicodedata2`: the last age that fully agrees is the
   version of HF's normalization tables.
With --classes-json FILE the per-class code point lists of HF are written too (the input of
tools/probe_unicode_libraries.cpp).

Usage: PYTHONPATH=<dir with unicodedata2> python3 tools/probe_hf_unicode.py
"""
import argparse
import collections
import json
import re
import unicodedata

import tokenizers
import unicodedata2
from tokenizers import Regex, normalizers, pre_tokenizers

CLASSES = ["L", "N", "P", "S", "M", "Lu", "Ll", "Lm", "Lo", "Nd", "Cn", "Co", "Cf"]
CODE_POINTS = [c for c in range(0x20, 0x110000) if not 0xD800 <= c <= 0xDFFF]


def hf_class(name):
    """Code points that HF's regex \\p{name} matches."""
    splitter = pre_tokenizers.Split(Regex(r"\p{%s}" % name), behavior="removed")
    match = set()
    for i in range(0, len(CODE_POINTS), 20000):
        chunk = CODE_POINTS[i:i + 20000]
        kept = set()
        for _, (s, e) in splitter.pre_tokenize_str("".join(map(chr, chunk))):
            kept.update(chunk[s:e])
        match.update(c for c in chunk if c not in kept)
    return match


def hf_numeric():
    digits = pre_tokenizers.Digits(individual_digits=False)
    return {c for c in CODE_POINTS if len(digits.pre_tokenize_str("a" + chr(c) + "a")) == 3}


def data_class(ud, name):
    return {c for c in CODE_POINTS if ud.category(chr(c)).startswith(name)}


def ages(derived_age):
    out = {}
    for line in open(derived_age, encoding="utf-8"):
        m = re.match(r"([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;\s*([0-9.]+)", line)
        if m:
            for c in range(int(m[1], 16), int(m[2] or m[1], 16) + 1):
                out[c] = m[3]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--derived-age", default="/usr/share/unicode/DerivedAge.txt")
    parser.add_argument("--classes-json")
    args = parser.parse_args()
    print(f"tokenizers {tokenizers.__version__}")
    hf = {name: hf_class(name) for name in CLASSES}
    hf["numeric"] = hf_numeric()
    for ud in (unicodedata, unicodedata2):
        diffs = {name: len(hf[name] ^ data_class(ud, name)) for name in CLASSES}
        diffs["numeric"] = len(hf["numeric"] ^ data_class(ud, "N"))
        print(f"code points unlike Unicode {ud.unidata_version}: {diffs}")
    if args.classes_json:
        with open(args.classes_json, "w") as f:
            json.dump({k: sorted(v) for k, v in hf.items()}, f)

    age = ages(args.derived_age)
    nfd, nfkd = normalizers.NFD(), normalizers.NFKD()
    agree = collections.defaultdict(lambda: [0, 0])
    for c in CODE_POINTS:
        ch = chr(c)
        a = age.get(c, "new" if unicodedata2.category(ch) != "Cn" else None)
        if a is None:
            continue
        if unicodedata2.decomposition(ch):
            agree[a][nfkd.normalize_str(ch) != unicodedata2.normalize("NFKD", ch)] += 1
        if 0 < unicodedata2.combining(ch) < 240:  # reorders before U+0345 (class 240) if known
            text = "a\u0345" + ch
            agree[a][nfd.normalize_str(text) != unicodedata2.normalize("NFD", text)] += 1
    print("normalization data by Unicode age (characters HF agrees with / differs from):")
    def order(version):
        return [1000] if version == "new" else [int(x) for x in version.split(".")]
    for a in sorted(agree, key=order):
        print(f"  {a:>5}: {agree[a][0]:5d} / {agree[a][1]:5d}")


if __name__ == "__main__":
    main()
