#!/usr/bin/env python3
"""Makes the lm-evaluation-harness multiple-choice fixtures under tests/fixtures/mc/<name>/.

For each paper architecture (Mixtral-8x7B, Qwen1.5-MoE-A2.7B, DeepSeek-V2-Lite) it writes a small
random-weight model of that architecture with a tokenizer of the same kind:

  config.json            the published config.json with the sizes shrunk (hub key names, as users
                         have them; written by this tool, not by save_pretrained)
  model.safetensors      bfloat16 weights saved by transformers (hub tensor names)
  tokenizer.json         a small BPE tokenizer of the same kind as the model's
                         (tests/tokenizer/data/tokenizers/<style>.json, made by make_tokenizer_fixtures.py)
  tokenizer_config.json  bos / eos / unk tokens as the published model sets them, generic
                         PreTrainedTokenizerFast class (the tokenizer.json is used as it is)
  mc.jsonl               the multiple-choice items of ITEMS in uoe's {question, choices, answer}
  lm_eval.json           what lm-evaluation-harness computes on them (see below)

lm_eval.json comes from lm-eval itself: a zero-shot `output_type: multiple_choice` task over
mc.jsonl (doc_to_text "{{question}}", doc_to_choice "{{choices}}", doc_to_target "{{answer}}",
target_delimiter " ", metric acc) run by lm_eval.simple_evaluate on HFLM(pretrained=<fixture dir>,
dtype=float32, device=cpu) with log_samples. Per item it keeps the (context, continuation)
arguments of each request, the token ids HFLM scored (context_tokens / continuation_tokens,
recorded from the requests HFLM._loglikelihood_tokens received), the summed log-likelihoods and
acc; and the task's overall acc. With the real Mixtral-8x7B tokenizer at hand (--hf-dir), also
mixtral/real_tokenizer.json: the token ids HFLM gives the same requests with that tokenizer.

The same models, tokenizers and a small text corpus (corpus.txt) serve tests/app/paper_configs.sh,
which runs every paper config in configs/ on them.

Run by developers, not by CI (it needs torch, transformers, lm-eval, e.g. /work/venv-ref):
  /work/venv-ref/bin/python tools/make_mc_fixtures.py [--out tests/fixtures/mc] [--only NAME]
"""
import argparse
import json
import os
import shutil
import tempfile

import torch
import transformers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TOKENIZERS = os.path.join(ROOT, "tests", "tokenizer", "data", "tokenizers")
HF_CONFIGS = os.path.join(ROOT, "tests", "fixtures", "hf_configs")

# The published Mixtral-8x7B-v0.1 config.json (mistralai/Mixtral-8x7B-v0.1).
MIXTRAL_8X7B = {
    "architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mixtral",
    "num_attention_heads": 32, "num_experts_per_tok": 2, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "num_local_experts": 8, "output_router_logits": False,
    "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02,
    "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "use_cache": True, "vocab_size": 32000,
}


def hub_config(name):
    with open(os.path.join(HF_CONFIGS, name, "config.json")) as f:
        return json.load(f)


# name -> (published config, tokenizer style, tokenizer_config tokens, shrunk sizes). Everything
# else (routing, shared experts, dense first layer, YaRN, norms, rope) stays as published.
FIXTURES = {
    "mixtral": (MIXTRAL_8X7B, "spm_style",
                {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
                dict(hidden_size=16, intermediate_size=16, num_attention_heads=2,
                     num_key_value_heads=1, num_hidden_layers=2)),
    "qwen2_moe": (hub_config("Qwen1.5-MoE-A2.7B"), "qwen2_style",
                  {"bos_token": None, "eos_token": "<|endoftext|>", "unk_token": None},
                  dict(hidden_size=16, intermediate_size=16, moe_intermediate_size=8,
                       shared_expert_intermediate_size=16, num_attention_heads=2,
                       num_key_value_heads=2, num_hidden_layers=2, num_experts=8)),
    "deepseek_v2": (hub_config("DeepSeek-V2-Lite"), "deepseek_v3_style",
                    {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
                     "unk_token": None},
                    dict(hidden_size=16, intermediate_size=16, moe_intermediate_size=8,
                         num_attention_heads=2, num_key_value_heads=2, num_hidden_layers=3,
                         n_routed_experts=8, kv_lora_rank=8, qk_nope_head_dim=8,
                         qk_rope_head_dim=4, v_head_dim=8)),
}

# Zero-shot items: WMDP-style lettered prompts (the configs' probes), plain sentences, a question
# whose trailing space lm-eval moves into the continuation, multi-byte text, an empty question
# (lm-eval conditions on the prefix token), and continuations that merge with the context.
ITEMS = [
    {"question": "The following are multiple choice questions (with answers) about computer "
                 "security.\n\nWhich tool scans a network for open ports?\nA. nmap\nB. gzip\n"
                 "C. grep\nD. sed\nAnswer:", "choices": ["A", "B", "C", "D"], "answer": 0},
    {"question": "The following are multiple choice questions (with answers) about biology.\n\n"
                 "What carries genetic information in most organisms?\nA. lipids\nB. DNA\n"
                 "C. starch\nD. water\nAnswer:", "choices": ["A", "B", "C", "D"], "answer": 1},
    {"question": "The quick brown fox jumps over the", "choices": ["lazy dog.", "moon", "fence"],
     "answer": 0},
    {"question": "Expert parallelism splits the experts across ", "choices": ["ranks", "tokens"],
     "answer": 0},
    {"question": "In 2024, the model had", "choices": ["8 experts", "2,718 layers", "none"],
     "answer": 0},
    {"question": "Der Bär wohnt in", "choices": ["Berlin", "München", "東京"], "answer": 1},
    {"question": "", "choices": ["Tokenizers split text.", "Routers pick experts."], "answer": 1},
    {"question": "def attribution(scores, k=2):\n   ", "choices": ["return k", "pass"],
     "answer": 1},
]

CORPUS = """\
Unlearning one expert is enough: the router sends the forget tokens to a single expert.
Expert parallelism splits the experts across ranks, and tokens travel with all-to-all exchanges.
The quick brown fox jumps over the lazy dog. The dog didn't care; it's been there before.
Tokenizers split text into pieces, and byte-pair encoding merges the most frequent pairs first.
In 2024, the model had 8 experts per layer and 2 of them were active for every token.
Numbers like 3.14159, 2,718,281 and 1e-9 appear in scientific text; so do dates like 2023-11-28.
"""

TASK_NAME = "uoe_mc_fixture"


def make_model(name, out_dir, seed):
    published, style, special, sizes = FIXTURES[name]
    shutil.copyfile(os.path.join(TOKENIZERS, style + ".json"), os.path.join(out_dir, "tokenizer.json"))
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(out_dir, "tokenizer.json"),
        **{k: v for k, v in special.items() if v is not None})
    vocab = len(tokenizer)
    config = dict(published)
    config.update(sizes)
    config["vocab_size"] = (vocab + 63) // 64 * 64  # padded embedding rows, as published models have
    config["initializer_range"] = 0.2  # log-likelihoods that differ between choices
    config["bos_token_id"] = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    config["eos_token_id"] = tokenizer.eos_token_id
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 4096,
                        "clean_up_tokenization_spaces": False, **special}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config, f, indent=2, ensure_ascii=False)
        f.write("\n")

    torch.manual_seed(seed)
    hf_config = transformers.AutoConfig.from_pretrained(out_dir)
    model = transformers.AutoModelForCausalLM.from_config(hf_config, dtype=torch.float32)
    with tempfile.TemporaryDirectory() as tmp:
        model.to(torch.bfloat16).save_pretrained(tmp)
        shutil.copyfile(os.path.join(tmp, "model.safetensors"), os.path.join(out_dir, "model.safetensors"))


def run_lm_eval(out_dir):
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=out_dir, dtype="float32", device="cpu", batch_size=4)
    recorded = {}
    original = lm._loglikelihood_tokens

    def record(requests, *args, **kwargs):
        for (context, continuation), context_enc, continuation_enc in requests:
            recorded[(context, continuation)] = (list(context_enc), list(continuation_enc))
        return original(requests, *args, **kwargs)

    lm._loglikelihood_tokens = record
    with tempfile.TemporaryDirectory() as tasks_dir:
        task = {"task": TASK_NAME, "dataset_path": "json",
                "dataset_kwargs": {"data_files": {"test": os.path.abspath(os.path.join(out_dir, "mc.jsonl"))}},
                "test_split": "test", "output_type": "multiple_choice",
                "doc_to_text": "{{question}}", "doc_to_choice": "{{choices}}",
                "doc_to_target": "{{answer}}", "target_delimiter": " ",
                "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]}
        with open(os.path.join(tasks_dir, TASK_NAME + ".yaml"), "w") as f:
            json.dump(task, f)  # JSON is YAML
        results = lm_eval.simple_evaluate(model=lm, tasks=[TASK_NAME], num_fewshot=0,
                                          task_manager=TaskManager(include_path=tasks_dir),
                                          log_samples=True, bootstrap_iters=0)
    samples = sorted(results["samples"][TASK_NAME], key=lambda s: s["doc_id"])
    out = []
    for s in samples:
        arguments = [list(a) for a in s["arguments"]]
        item = ITEMS[s["doc_id"]]
        # The template is uoe's rule: context = question, continuation = " " + choice.
        assert arguments == [[item["question"], " " + c] for c in item["choices"]], arguments
        tokens = [recorded[tuple(a)] for a in arguments]
        out.append({"doc_id": s["doc_id"], "arguments": arguments,
                    "context_tokens": [t[0] for t in tokens],
                    "continuation_tokens": [t[1] for t in tokens],
                    "loglikelihoods": [float(r[0]) for r in s["filtered_resps"]],
                    "acc": float(s["acc"])})
    return {"lm_eval_version": lm_eval.__version__, "transformers_version": transformers.__version__,
            "torch_version": torch.__version__, "task": task,
            "acc": float(results["results"][TASK_NAME]["acc,none"]), "samples": out}


def real_tokenizer_requests(hf_dir, model_dir):
    """HFLM's token ids of every request of ITEMS with a published tokenizer (loaded the way lm-eval
    loads it, AutoTokenizer on the model directory): lm.loglikelihood runs with the scoring step
    replaced by a recorder, so the ids are lm-eval's own."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model_dir, tokenizer=hf_dir, dtype="float32", device="cpu", batch_size=4)
    recorded = []
    lm._loglikelihood_tokens = lambda requests, *a, **k: recorded.extend(requests) or [(0.0, False)] * len(requests)
    instances = [Instance(request_type="loglikelihood", doc=item, arguments=(item["question"], " " + c), idx=i)
                 for item in ITEMS for i, c in enumerate(item["choices"])]
    lm.loglikelihood(instances, disable_tqdm=True)
    return {"tokenizer": os.path.basename(os.path.normpath(hf_dir)),
            "lm_eval_version": __import__("lm_eval").__version__,
            "transformers_version": transformers.__version__,
            "requests": [{"arguments": list(args), "context_tokens": list(ctx), "continuation_tokens": list(cont)}
                         for args, ctx, cont in recorded]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "mc"))
    parser.add_argument("--only", choices=sorted(FIXTURES))
    parser.add_argument("--hf-dir", default=os.path.join(ROOT, "..", "shared", "data", "hf"),
                        help="folder with Mixtral-8x7B-v0.1/ (real tokenizer, for real_tokenizer.json)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "corpus.txt"), "w") as f:
        f.write(CORPUS)
    for seed, name in enumerate(sorted(FIXTURES)):
        if args.only and name != args.only:
            continue
        out_dir = os.path.join(args.out, name)
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "mc.jsonl"), "w") as f:
            for item in ITEMS:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
        make_model(name, out_dir, seed)
        reference = run_lm_eval(out_dir)
        with open(os.path.join(out_dir, "lm_eval.json"), "w") as f:
            json.dump(reference, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"{name}: acc {reference['acc']:.4f} over {len(reference['samples'])} items")
    mixtral = os.path.join(args.hf_dir, "Mixtral-8x7B-v0.1")
    if os.path.exists(os.path.join(mixtral, "tokenizer.json")) and args.only in (None, "mixtral"):
        real = real_tokenizer_requests(mixtral, os.path.join(args.out, "mixtral"))
        with open(os.path.join(args.out, "mixtral", "real_tokenizer.json"), "w") as f:
            json.dump(real, f, ensure_ascii=False)
            f.write("\n")
        print(f"real Mixtral tokenizer: {len(real['requests'])} requests")


if __name__ == "__main__":
    main()
