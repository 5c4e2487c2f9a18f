#!/usr/bin/python3
"""Prints the benchmark results in <dir> as tables with their ratios and targets, and writes
<dir>/summary.json. Reads moe_layer_*.json, dispatch_*.json and env.json written by run_all.sh.
Standard library only."""
import json
import pathlib
import sys


def load(paths):
    return [json.loads(p.read_text()) for p in sorted(paths)]


def verdict(met):
    return "ok" if met else "MISSED"


def table(headers, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]

    def line(cells):
        return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def moe_rows(results):
    rows, summary = [], []
    for r in results:
        s, rat, tgt, mins = r["shape"], r["ratios"], r["targets"], r["ratios_of_minimums"]
        worst = max(v["relative"] for k, v in r["check"].items() if isinstance(v, dict))
        rows.append([
            r["name"], f'{s["tokens"]}/{s["hidden"]}/{s["ffn"]}/{s["experts"]}/{s["top_k"]}',
            f'{r["layer"]["median_s"]:.3f}', f'{r["layer"]["tokens_per_s"]:.0f}',
            f'{r["layer"]["gflops"]:.1f}', f'{r["expert_bank"]["gflops"]:.1f}',
            f'{r["gemm"]["gflops"]:.1f}',
            f'{rat["layer_vs_gemm"]:.2f} ({mins["layer_vs_gemm"]:.2f}) '
            f'{verdict(tgt["layer_vs_gemm_met"])}',
            f'{rat["bank_vs_gemm"]:.2f} ({mins["bank_vs_gemm"]:.2f})',
            f'{r["python_reference"]["median_s"]:.3f}',
            f'{rat["speedup_vs_python"]:.2f} ({mins["speedup_vs_python"]:.2f}) '
            f'{verdict(tgt["speedup_vs_python_met"])}',
            f"{worst:.1e}",
        ])
        summary.append({
            "name": r["name"], "shape": s, "threads": r["threads"],
            "layer_s": r["layer"]["median_s"], "layer_tokens_per_s": r["layer"]["tokens_per_s"],
            "layer_gflops": r["layer"]["gflops"], "bank_gflops": r["expert_bank"]["gflops"],
            "gemm_gflops": r["gemm"]["gflops"], "python_s": r["python_reference"]["median_s"],
            "python_tokens_per_s": r["python_reference"]["tokens_per_s"],
            "ratios": rat, "ratios_of_minimums": r["ratios_of_minimums"], "targets": tgt,
            "check_worst_relative_error": worst,
        })
    headers = ["shape", "T/H/F/E/K", "layer s", "tok/s", "GFLOP/s", "bank GF/s", "GEMM GF/s",
               "layer/GEMM >=0.70", "bank/GEMM", "python s", "vs python >=1.30", "max rel err"]
    return table(headers, rows), summary


def dispatch_rows(results):
    rows, summary = [], []
    for r in sorted(results, key=lambda r: (r["name"], r["ranks"])):
        s = r["shape"]
        for transport, t in r["transports"].items():
            rat, tgt, mins = t["ratios"], t["targets"], t["ratios_of_minimums"]
            breakdown = t["breakdown_fwd"]
            rows.append([
                r["name"], f'{s["tokens"]}/{s["hidden"]}/{s["experts"]}/{s["top_k"]}', r["ranks"],
                transport, f'{r["bytes_sent_per_rank_per_exchange"] / 2**20:.0f}',
                f'{t["dispatcher_fwd"]["median_s"] * 1e3:.1f}',
                f'{breakdown["dispatch_median_s"] * 1e3:.1f}/'
                f'{breakdown["combine_median_s"] * 1e3:.1f}',
                f'{r["raw_alltoallv_x2"]["median_s"] * 1e3:.1f}',
                f'{rat["fwd"]:.2f} ({mins["fwd"]:.2f}) {verdict(tgt["fwd_met"])}',
                f'{rat["fwd_without_expert_output_placement"]:.2f}',
                f'{breakdown["phases"]["token_all_to_all_median_s"] * 1e3:.1f}',
                f'{rat["exchange_fwd"]:.2f}',
                f'{t["dispatcher_fwd_bwd"]["median_s"] * 1e3:.1f}',
                f'{r["raw_alltoallv_x4"]["median_s"] * 1e3:.1f}',
                f'{rat["fwd_bwd"]:.2f} ({mins["fwd_bwd"]:.2f})',
                "ok" if r["check"][transport]["passed"] else "FAILED",
            ])
            summary.append({
                "name": r["name"], "ranks": r["ranks"], "transport": transport, "shape": s,
                "threads_per_rank": r["threads_per_rank"],
                "dispatcher_fwd_ms": t["dispatcher_fwd"]["median_s"] * 1e3,
                "raw_x2_ms": r["raw_alltoallv_x2"]["median_s"] * 1e3,
                "dispatcher_fwd_bwd_ms": t["dispatcher_fwd_bwd"]["median_s"] * 1e3,
                "raw_x4_ms": r["raw_alltoallv_x4"]["median_s"] * 1e3,
                "ratios": rat, "ratios_of_minimums": mins, "targets": tgt,
            })
    headers = ["shape", "T/H/E/K", "ranks", "transport", "MiB/rank", "disp+comb ms",
               "disp/comb ms", "raw 2x ms", "ratio <=1.2", "w/o placing", "exchange ms", "exch/raw",
               "fwd+bwd ms", "raw 4x ms", "ratio", "check"]
    return table(headers, rows), summary


def main(directory):
    d = pathlib.Path(directory)
    env = json.loads((d / "env.json").read_text()) if (d / "env.json").exists() else {}
    moe = load(d.glob("moe_layer_*.json"))
    dispatch = load(d.glob("dispatch_*.json"))
    if not moe and not dispatch:
        print(f"no results in {d}", file=sys.stderr)
        return 1
    if env:
        print(f'{env.get("date", "?")}  {env.get("host", "?")}: {env.get("cores", "?")} cores, '
              f'torch {env.get("torch", "?")}, load average at start {env.get("load_start", "?")}'
              f', at end {env.get("load_end", "?")}')
    summary = {"env": env}
    if moe:
        text, summary["moe_layer"] = moe_rows(moe)
        threads = ", ".join(str(t) for t in sorted({r["threads"] for r in moe}))
        print(f"\nMoE layer forward+backward, one process x {threads} threads "
              "(GFLOP/s counts the expert GEMMs: 9 x 2*rows*H*F)")
        print(text)
        print("ratios: of medians (of minimums); targets: layer/GEMM >= 0.70, vs python >= 1.30")
    if dispatch:
        text, summary["dispatch"] = dispatch_rows(dispatch)
        threads = ", ".join(str(t) for t in sorted({r["threads_per_rank"] for r in dispatch}))
        print(f"\nDispatch+combine (identity experts) vs raw MPI_Alltoallv of the same rows, "
              f"{threads} thread(s) per rank (max over ranks, median)")
        print(text)
        print("ratios: of medians (of minimums); target: dispatcher / raw <= 1.2; exchange: the "
              "token exchange alone (both directions: all-to-all with the permutations fused in, "
              "or shared-memory writes, fences and gathers), exch/raw its ratio; w/o placing: the ratio "
              "without writing the expert outputs where combine reads them (the MoE layer's "
              "expert concatenation does that write)")
    (d / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nwrote {d / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "runs/bench"))
