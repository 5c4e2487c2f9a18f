#!/usr/bin/env python3
"""Writes src/tokenizer/unicode_tables.cpp: the Unicode character data the tokenizer needs, in the
Unicode versions that HF tokenizers uses (measured for tokenizers 0.23.3, see docs/tokenizer.md):

  general categories    Unicode 16.0, as the Oniguruma that runs HF's regexes:
                        ranges of code points with the same two-letter category (gaps: Cn)
  case folds            Unicode 16.0: simple case folding (one code point to one code point)
  combining classes     Unicode 9.0, as HF's normalizers (crate unicode-normalization-alignments):
                        ranges with the same non-zero canonical combining class
  decompositions        Unicode 9.0: one-step canonical decompositions (one or two code points)
  compositions          Unicode 9.0: pairs that NFC recomposes (primary composites, exclusions
                        removed)

The 16.0 data come from PyPI `unicodedata2==16.0.0`; the 9.0 normalization data are the 16.0 data
of the characters that Unicode 9.0 had (DerivedAge.txt, Debian package unicode-data), which the
normalization stability policy makes equal to Unicode 9.0's own.

Usage: python3 tools/gen_unicode_tables.py [output.cpp] [--derived-age DerivedAge.txt]
       (defaults: src/tokenizer/unicode_tables.cpp, /usr/share/unicode/DerivedAge.txt)
"""
import argparse
import os
import re
import sys

import unicodedata2 as unicodedata

# The order defines the numeric values of uoe::GeneralCategory (src/tokenizer/unicode_properties.h).
CATEGORIES = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps",
              "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs",
              "Co", "Cn"]
MAX_CODE_POINT = 0x10FFFF
CATEGORY_VERSION = "16.0.0"  # Oniguruma in HF tokenizers 0.23.3
NORMALIZATION_VERSION = (9, 0)  # unicode-normalization-alignments in HF tokenizers 0.23.3


def assigned_by(derived_age, version):
    """Code points assigned in Unicode `version` or before, from DerivedAge.txt."""
    old = bytearray(MAX_CODE_POINT + 1)
    with open(derived_age, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;\s*(\d+)\.(\d+)", line)
            if m and (int(m[3]), int(m[4])) <= version:
                for cp in range(int(m[1], 16), int(m[2] or m[1], 16) + 1):
                    old[cp] = 1
    return old


def runs(values, skip):
    """[(first, last, value)] for maximal runs of equal values, leaving out runs equal to skip."""
    out = []
    start, current = 0, values[0]
    for cp in range(1, len(values) + 1):
        value = values[cp] if cp < len(values) else None
        if value != current:
            if current != skip:
                out.append((start, cp - 1, current))
            start, current = cp, value
    return out


def canonical_decomposition(cp):
    text = unicodedata.decomposition(chr(cp))
    if not text or text.startswith("<"):
        return None
    return [int(part, 16) for part in text.split()]


def simple_fold(cp):
    folded = chr(cp).casefold()
    if len(folded) != 1:
        folded = chr(cp).lower()
    return ord(folded) if len(folded) == 1 else cp


def rows(items, per_line, fmt):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("    " + " ".join(fmt(item) for item in items[i:i + per_line]))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output", nargs="?", default=os.path.join(
        os.path.dirname(__file__), "..", "src", "tokenizer", "unicode_tables.cpp"))
    parser.add_argument("--derived-age", default="/usr/share/unicode/DerivedAge.txt")
    args = parser.parse_args()
    if unicodedata.unidata_version != CATEGORY_VERSION:
        sys.exit(f"unicodedata2 has Unicode {unicodedata.unidata_version}, HF tokenizers' "
                 f"Oniguruma {CATEGORY_VERSION}: pip install unicodedata2=={CATEGORY_VERSION}")
    output = args.output
    old = assigned_by(args.derived_age, NORMALIZATION_VERSION)
    cn = CATEGORIES.index("Cn")
    categories = [CATEGORIES.index(unicodedata.category(chr(cp)))
                  for cp in range(MAX_CODE_POINT + 1)]
    category_ranges = runs(categories, cn)
    combining = runs([unicodedata.combining(chr(cp)) if old[cp] else 0
                      for cp in range(MAX_CODE_POINT + 1)], 0)

    decompositions, compositions = [], []
    for cp in range(MAX_CODE_POINT + 1):
        if 0xAC00 <= cp <= 0xD7A3 or not old[cp]:
            continue  # Hangul: decomposed algorithmically; after Unicode 9.0: no data in HF
        parts = canonical_decomposition(cp)
        if parts is None:
            continue
        decompositions.append((cp, parts[0], parts[1] if len(parts) > 1 else 0))
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == chr(cp):
            compositions.append((parts[0], parts[1], cp))
    compositions.sort()
    folds = [(cp, simple_fold(cp)) for cp in range(MAX_CODE_POINT + 1)
             if 0xD800 > cp or cp > 0xDFFF]
    folds = [(cp, f) for cp, f in folds if f != cp]

    def table(type_name, name, items, per_line, hex_fields):
        def fmt(item):
            fields = [f"0x{v:X}" if i in hex_fields else str(v) for i, v in enumerate(item)]
            return "{" + ", ".join(fields) + "},"
        return (f"const {type_name} k{name}[] = {{\n{rows(items, per_line, fmt)}\n}};\n"
                f"const size_t kNum{name} = sizeof(k{name}) / sizeof(k{name}[0]);\n")

    tables = "\n".join([
        table("CategoryRange", "CategoryRanges", category_ranges, 4, (0, 1)),
        table("CombiningRange", "CombiningRanges", combining, 4, (0, 1)),
        table("Decomposition", "Decompositions", decompositions, 4, (0, 1, 2)),
        table("Composition", "Compositions", compositions, 4, (0, 1, 2)),
        table("CaseFold", "CaseFolds", folds, 6, (0, 1)),
    ])
    normalization_version = "%d.%d" % NORMALIZATION_VERSION
    text = f"""// Generated by tools/gen_unicode_tables.py from unicodedata2 (Unicode {unicodedata.unidata_version}): general
// categories and case folds of Unicode {unicodedata.unidata_version}, normalization data of Unicode {normalization_version}.
// Do not edit; rerun the script.
#include "tokenizer/unicode_tables.h"

namespace uoe::unicode_tables {{

const char* const kCategoryVersion = "{unicodedata.unidata_version}";
const char* const kNormalizationVersion = "{normalization_version}";

{tables}
}}  // namespace uoe::unicode_tables
"""
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {output}: {len(category_ranges)} category ranges, {len(combining)} combining "
          f"ranges, {len(decompositions)} decompositions, {len(compositions)} compositions, "
          f"{len(folds)} case folds (Unicode {unicodedata.unidata_version}, normalization "
          f"{normalization_version})")


if __name__ == "__main__":
    main()
