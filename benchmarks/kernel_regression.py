"""The Table 3 numerics of the kernel-regression chapter: the estimator vectorised over prompts against
a per-prompt loop, on the same inputs, in both configurations of the chapter.

    python benchmarks/kernel_regression.py --out benchmarks/results/kernel-regression-cpu.json

For each setting (``PAPER_SETTING``: 8 tasks, 80 states, 100 symbols; ``WELL_CONDITIONED``) the
features, covariances and labels are built once; then the two estimators (task covariance per
prompt, pretraining covariance) are timed over the whole n grid, vectorised
(``kernel_regression``) and one prompt, one n and one demonstration at a time
(``kernel_regression_loop``), each the median of ``--repeats`` runs after an untimed warm-up, and
checked to agree. ``convergence`` (features, exact covariances, exact posterior and both
estimators) is timed whole as well. The JSON records the CPU, numpy, the commit and the date.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
from pathlib import Path

import numpy as np

from icl_book.bayes import kernel_regression as kr
from common import median_time
from icl_book.files import atomic_write, dump_json
from icl_book.provenance import cpu_name, git_commit


def bench(setting: kr.ConvergenceSetting, repeats: int) -> dict:
    from icl_book.tasks.ginc import build_hmms

    family = kr.TaskFamily.from_ginc_concepts(build_hmms(setting.ginc_config()))
    k, grid, P = setting.k, setting.n_grid, setting.n_prompts
    tasks = np.random.default_rng([setting.seed, 11]).integers(family.n_tasks, size=P)
    ex = kr.sample_examples(family, tasks, max(grid), k, setting.seed)
    xt = kr.sample_examples(family, tasks, 1, k, setting.seed + 1)[:, 0, : k - 1]
    phi_x, phi_t, labels = kr.features(family, ex[..., : k - 1]), kr.features(family, xt), ex[..., k - 1]
    sigma = kr.task_covariances(family, k - 1)
    inv_task, inv_pre = kr.pinv(sigma), kr.pinv(sigma.mean(0))
    V1 = family.n_tokens

    def vectorised():
        return (kr.kernel_regression(phi_x, labels, phi_t, inv_task, V1, grid, tasks=tasks).estimate,
                kr.kernel_regression(phi_x, labels, phi_t, inv_pre, V1, grid).estimate)

    def loop():
        return (kr.kernel_regression_loop(phi_x, labels, phi_t, inv_task, V1, grid, tasks=tasks),
                kr.kernel_regression_loop(phi_x, labels, phi_t, inv_pre, V1, grid))

    for a, b in zip(vectorised(), loop()):
        np.testing.assert_allclose(a, b, atol=1e-8)
    t_vec, t_loop = median_time(vectorised, repeats), median_time(loop, max(1, repeats // 3))
    t_all = median_time(lambda: kr.convergence(setting), max(1, repeats // 3))
    return {"setting": dataclasses.asdict(setting), "n_features": family.n_features,
            "vectorised_s": round(t_vec, 4), "loop_s": round(t_loop, 3), "ratio": round(t_loop / t_vec, 1),
            "convergence_s": round(t_all, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    results = {name: bench(s, args.repeats) for name, s in
               (("well_conditioned", kr.WELL_CONDITIONED), ("paper", kr.PAPER_SETTING))}
    report = {"benchmark": "kernel_regression", "results": results, "cpu": cpu_name(),
              "threads": os.environ.get("OMP_NUM_THREADS", "unset"), "numpy": np.__version__,
              "python": platform.python_version(), "commit": git_commit(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    text = dump_json(report)
    print(text)
    if args.out:
        atomic_write(args.out, text)


if __name__ == "__main__":
    main()
