"""FLOPs and expected time of each paper profile, from the 6·N·D estimate and measured throughput.

    python benchmarks/paper_estimates.py --cpu-result benchmarks/results/seeds-linreg-cpu.json \\
        --out benchmarks/results/paper-estimates.json

For each paper profile tools/paper-scale trains (and the others that train a transformer): N, the
parameters that multiply (the position embedding is a lookup and is left out); D, the tokens it
trains on (steps x batch x context; the context ``n_ctx`` bounds a prompt's length, so D is an
upper bound where prompts are shorter); FLOPs = 6·N·D (forward and backward matmuls, attention's
own FLOPs left out). Then the time at the CPU rate measured by benchmarks/seeds.py (achieved
FLOP/s = 6·N·tokens/s of that run, side by side), and on one H100 at the model FLOPs utilisation
of Hugging Face GPT-2's baseline (19 %, the issue's figure) and of the book's target (35 %) of the
dense bf16 peak (989 TFLOP/s). The H100 columns are estimates until tools/paper-scale measures
them; small models (the retrieval and task-diversity ones) will reach a lower utilisation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import write_result
from icl_book import experiments

H100_BF16 = 989e12
MFU = {"hf_baseline": 0.19, "target": 0.35}


def matmul_params(model) -> int:
    pos = getattr(model, "pos", None)
    return sum(p.numel() for p in model.parameters()) - (pos.weight.numel() if pos is not None else 0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-result", type=Path, required=True, help="a benchmarks/seeds.py JSON")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    cpu = json.loads(args.cpu_result.read_text())
    exp = experiments.get(cpu["experiment"])
    p = exp.profile(cpu["profile"])
    n_cpu = matmul_params(exp.build_model(p))
    tokens_per_s = cpu["seed_steps_per_s"]["together"] * cpu["batch_size"] * p.model.n_ctx
    cpu_flops = 6 * n_cpu * tokens_per_s
    rows = []
    for name, e in experiments.EXPERIMENTS.items():
        if e.compute is not None or "paper" not in e.profiles:
            continue
        q = e.profile("paper")
        if not hasattr(q.model, "n_ctx"):
            continue  # the LSTM: 6·N·D does not describe a recurrence's cost as well
        n = matmul_params(e.build_model(q))
        d = q.train.steps * q.train.batch_size * q.model.n_ctx
        flops = 6 * n * d
        rows.append({"experiment": name, "params": n, "tokens": d, "flops": flops,
                     "cpu_days": flops / cpu_flops / 86400,
                     **{f"h100_hours_{k}": flops / (H100_BF16 * m) / 3600 for k, m in MFU.items()}})
        r = rows[-1]
        print(f"{name:24s} N {n / 1e6:6.2f} M  D {d / 1e9:7.3f} G  {flops:.2e} FLOPs  CPU {r['cpu_days']:9.1f} days  "
              f"H100 {r['h100_hours_hf_baseline']:6.2f} h (19 %) / {r['h100_hours_target']:6.2f} h (35 %)")
    write_result({"cpu_result": str(args.cpu_result), "cpu_flops_per_s": cpu_flops, "h100_bf16_peak": H100_BF16,
                  "mfu": MFU, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
