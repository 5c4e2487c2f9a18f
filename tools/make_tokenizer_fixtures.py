#!/usr/bin/env python3
"""Tokenizer parity fixtures for tests/tokenizer/test_hf_tokenizer.cpp, made with Hugging Face
`tokenizers` (pip install tokenizers; run by developers, not by CI).

1. Trains small BPE tokenizers on the built-in corpus below, configured like real models:
     gpt2_style      ByteLevel pre-tokenizer with the GPT-2 regex, merges as "a b" strings
     neox_style      NFC + Digits(individual) + ByteLevel(add_prefix_space), "$A <|endoftext|>"
                     template, added tokens with lstrip / rstrip / single_word / normalized
     qwen2_style     NFC + Split(Qwen2 regex) + ByteLevel(use_regex=False)
     llama3_style    Split(Llama-3 regex) + ByteLevel, ignore_merges, "<|begin_of_text|> $A"
     deepseek_v3_style  Split(\\p{N}{1,3}) + Split(CJK) + Split(DeepSeek-V3 regex) + ByteLevel
     spm_style       Metaspace(prepend_scheme=first) + BPE with byte fallback (<0xF0>..<0xF4>
                     left out, so 4-byte characters become the fused unknown token)
   and writes them to tests/tokenizer/data/tokenizers/<name>.json.
2. Records HF's encode ids (without and with special tokens) and decode strings (with and
   without skipping special tokens) of TEXTS for each of them, and for the real Mixtral
   tokenizer in ../shared/data/hf/Mixtral-8x7B-v0.1 when present, in
   tests/tokenizer/data/tokenizers/cases.json.

The pre-tokenizer regexes are those of the published tokenizer.json files of GPT-2, Qwen2,
Llama-3 and DeepSeek-V3.

Usage: python3 tools/make_tokenizer_fixtures.py [--hf-dir ../shared/data/hf]
"""
import argparse
import json
import os

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT_DIR = os.path.join(ROOT, "tests", "tokenizer", "data", "tokenizers")

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
DEEPSEEK_V3_PATTERNS = [
    r"\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"""
    r"""| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
]

CORPUS = """\
The quick brown fox jumps over the lazy dog. The dog didn't care; it's been there before.
Tokenizers split text into pieces, and byte-pair encoding merges the most frequent pairs first.
We're testing what they'll do with contractions: I'm, you've, she'd, we'll, THEY'RE, It's.
In 2024, the model had 8 experts per layer and 2 of them were active for every token.
Numbers like 3.14159, 2,718,281 and 1e-9 appear in scientific text; so do dates like 2023-11-28.
Unlearning one expert is enough: the router sends the forget tokens to a single expert.
Expert parallelism splits the experts across ranks, and tokens travel with all-to-all exchanges.
def attribution(scores, k=2):
    # top-k experts per token
    return sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
for (int i = 0; i < n; ++i) { sum += x[i] * w[i]; }
if __name__ == "__main__":
\tprint("hello, world!")  # tab-indented line
Café, naïve, résumé, Ångström, São Paulo, Zürich, Kraków, façade, coöperate, piñata.
Γειά σου κόσμε. Привет, мир! Здравствуйте, как дела? Ελληνικά και русский язык.
中文分词是自然语言处理的基础任务。我们今天学习分词器。机器学习和深度学习。
日本語のテキストも含まれています。ひらがなとカタカナと漢字。東京は大きい都市です。
한국어 문장도 있습니다. 안녕하세요, 세계!
नमस्ते दुनिया। हिन्दी में लिखा गया वाक्य। العربية لغة جميلة. שלום עולם.
Emoji: 👍 🎉 🚀 😀 ❤️ 👨‍👩‍👧 🇫🇷 — and symbols: © ® ™ € £ ¥ ± × ÷ → ∑ ∞.
URLs: https://example.com/path?query=1&lang=en and emails like someone@example.org.
Whitespace   runs    and\ttabs\t\tand

blank lines, trailing spaces   
JSON: {"key": [1, 2, 3], "nested": {"a": null, "b": true}}
SELECT name, COUNT(*) FROM tokens WHERE id > 100 GROUP BY name;
The WMDP benchmark measures hazardous knowledge; unlearning should remove it while keeping MMLU.
Mixture-of-Experts models route each token to the top-k experts chosen by a learned gate.
Question: Where was Velmora born? Answer: in the northern city of Astrel, in 1871.
"""

TEXTS = [
    "Hello world",
    "Hello, world! How are you doing today?",
    " leading space",
    "trailing space ",
    "   ",
    "",
    "a",
    "I'm sure they'll say it's fine, but we've DONE it and THEY'RE SURE.",
    "Don’t use curly quotes’s forms",
    "café naïve résumé Ångström",
    "cafe\u0301 decomposed e\u0301 and A\u030a",  # NFC turns these into é and Å
    "ﬁ ligature and Ⅻ numeral and ² superscript",
    "中文分词测试，日本語のテキスト、한국어 문장",
    "東京タワーはひらがなとカタカナ",
    "Γειά σου κόσμε, Привет мир",
    "नमस्ते दुनिया हिन्दी",
    "العربية لغة جميلة",
    "👍 🎉🚀 😀 family 👨‍👩‍👧 flag 🇫🇷 heart ❤️",
    "def f(x):\n\treturn x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) {\n    sum += x[i];\n}\n",
    "a   b\t\tc\n\n\nd  \n e",
    "tabs\t\t\tonly\tand\r\nwindows\r\nlines",
    "  two leading and two trailing  ",
    "\n\nstarts with newlines",
    "1234567890 3.14159 2,718,281 1e-9 007",
    "٣٤٥ Arabic-Indic digits and ４５６ fullwidth",
    "2023-11-28T12:35:00Z",
    "https://example.com/path?query=1&lang=en#frag",
    "someone@example.org wrote: \"quoted\" text (with parens) [brackets] {braces}",
    "!!! ??? ... --- *** ### $$$ %%% &&&",
    "no\u00a0break\u3000ideographic\u2028line",
    "zero\u200bwidth\u200djoiner",
    "ſ long s and K kelvin 'S 'LL",
    "Hello<|endoftext|>world",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|>Hi<|eot_id|> <|end_of_text|>",
    "<s> Hello </s> and <unk>",
    "<｜begin▁of▁sentence｜>DeepSeek<｜end▁of▁sentence｜>",
    "the <mask> token and a [NOTE] here, but not[NOTE]inside",
    "digits 12 and <mask>  spaced  <mask>",
    "Question: Where was Velmora born? Answer: in Astrel, in 1871.",
    "The WMDP forget corpus contains long technical paragraphs about many topics.",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x" * 40,
    "ααααα ßß ẞ İstanbul",
    "▁ already has the metaspace ▁▁ character",
    "mixed\u00e9\u0301 marks \u0e01\u0e32\u0e23 Thai and \u1100\u1161 jamo",
]


def byte_level_tokenizer(normalizer, pre_tokenizer, specials, vocab_size):
    tok = Tokenizer(models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=1, show_progress=False,
                                  special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS.splitlines(keepends=True), trainer)
    return tok


def spm_tokenizer():
    specials = ["<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    tok.decoder = decoders.Sequence([decoders.ByteFallback(),
                                     decoders.Metaspace(prepend_scheme="first")])
    trainer = trainers.BpeTrainer(vocab_size=700, min_frequency=1, show_progress=False,
                                  special_tokens=specials, limit_alphabet=120)
    tok.train_from_iterator(CORPUS.splitlines(keepends=True), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    # Insert the byte tokens after the specials, as SentencePiece vocabularies have them; leave
    # out the lead bytes of 4-byte characters so that those fall back to <unk>.
    spec = json.loads(tok.to_str())
    old = spec["model"]["vocab"]
    bytes_kept = [b for b in range(256) if not 0xF0 <= b <= 0xF4]
    order = specials + [f"<0x{b:02X}>" for b in bytes_kept] + \
        [t for t, _ in sorted(old.items(), key=lambda kv: kv[1]) if t not in specials]
    spec["model"]["vocab"] = {t: i for i, t in enumerate(order)}
    for added in spec["added_tokens"]:
        added["id"] = spec["model"]["vocab"][added["content"]]
    spec["post_processor"]["special_tokens"]["<s>"]["ids"] = [spec["model"]["vocab"]["<s>"]]
    return Tokenizer.from_str(json.dumps(spec))


def with_model_options(tok, merges_as_strings=False, ignore_merges=False):
    spec = json.loads(tok.to_str())
    if merges_as_strings:
        spec["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m
                                   for m in spec["model"]["merges"]]
    if ignore_merges:
        spec["model"]["ignore_merges"] = True
    return Tokenizer.from_str(json.dumps(spec))


def make_tokenizers():
    made = {}

    tok = byte_level_tokenizer(None, pre_tokenizers.ByteLevel(add_prefix_space=False),
                               ["<|endoftext|>"], 800)
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    made["gpt2_style"] = with_model_options(tok, merges_as_strings=True)

    tok = byte_level_tokenizer(
        normalizers.NFC(),
        pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                 pre_tokenizers.ByteLevel(add_prefix_space=True)]),
        ["<|endoftext|>", "<|padding|>"], 700)
    tok.add_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, special=True,
                               normalized=False),
                    AddedToken("[NOTE]", single_word=True, normalized=True, special=False),
                    AddedToken("here,", rstrip=True, normalized=False, special=False)])
    tok.post_processor = processors.TemplateProcessing(
        single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", tok.token_to_id("<|endoftext|>"))])
    made["neox_style"] = tok

    tok = byte_level_tokenizer(
        normalizers.NFC(),
        pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], 900)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    made["qwen2_style"] = tok

    tok = byte_level_tokenizer(
        None,
        pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
        ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"], 900)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    made["llama3_style"] = with_model_options(tok, ignore_merges=True)

    tok = byte_level_tokenizer(
        None,
        pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(p), behavior="isolated", invert=False)
             for p in DEEPSEEK_V3_PATTERNS] +
            [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
        ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"], 900)
    bos = tok.token_to_id("<｜begin▁of▁sentence｜>")
    tok.post_processor = processors.TemplateProcessing(
        single="<｜begin▁of▁sentence｜> $A", special_tokens=[("<｜begin▁of▁sentence｜>", bos)])
    made["deepseek_v3_style"] = tok

    made["spm_style"] = spm_tokenizer()
    return made


def record(tok, texts=TEXTS):
    cases = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        ids_special = tok.encode(text, add_special_tokens=True).ids
        cases.append({
            "ids": ids,
            "ids_special": ids_special,
            "decoded": tok.decode(ids_special, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids_special, skip_special_tokens=True),
        })
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hf-dir", default=os.path.join(ROOT, "..", "shared", "data", "hf"))
    args = parser.parse_args()
    os.makedirs(OUT_DIR, exist_ok=True)
    result = {"tokenizers_version": tokenizers.__version__, "texts": TEXTS, "tokenizers": {}}
    for name, tok in make_tokenizers().items():
        path = os.path.join(OUT_DIR, f"{name}.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(tok.to_str())
        result["tokenizers"][name] = {"file": f"{name}.json", "cases": record(tok)}
        print(f"{name}: vocab {tok.get_vocab_size()}, {os.path.getsize(path)} bytes")
    mixtral = os.path.join(args.hf_dir, "Mixtral-8x7B-v0.1", "tokenizer.json")
    if os.path.exists(mixtral):
        tok = Tokenizer.from_file(mixtral)
        result["tokenizers"]["mixtral"] = {"hf_file": "Mixtral-8x7B-v0.1/tokenizer.json",
                                           "cases": record(tok)}
        print(f"mixtral: vocab {tok.get_vocab_size()} (from {mixtral})")
    else:
        print(f"no {mixtral}: Mixtral cases not recorded")
    with open(os.path.join(OUT_DIR, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
