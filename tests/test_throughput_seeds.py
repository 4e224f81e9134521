"""The throughput benchmark's seeds-side-by-side mode: the same losses and per-seed clipping as
separate models, end to end at smoke size on the CPU; CUDA-graph modes refused there in one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
pytest.importorskip("transformers")
from train_throughput import NextTokenLoss, SeedsNextTokenLoss  # noqa: E402

from icl_book.models.transformer import Transformer, TransformerConfig  # noqa: E402


def test_stacked_seeds_give_each_seed_its_own_loss_and_clipping():
    torch.set_num_threads(1)
    cfg = TransformerConfig(n_layer=2, n_head=2, d_model=32, n_ctx=16, vocab_size=11)
    models = []
    for s in range(3):
        torch.manual_seed(s)
        models.append(Transformer(cfg))
    x, y = torch.randint(11, (4, 15)), torch.randint(11, (4, 15))
    stacked = SeedsNextTokenLoss(models)
    loss = stacked(x, y)
    separate = [NextTokenLoss(m, False)(x, y) for m in models]
    torch.testing.assert_close(loss, torch.stack(separate).mean(), rtol=1e-5, atol=1e-6)
    (loss * 3).backward()   # the sum of the seeds' losses: each seed's own gradient
    stacked.clip_(0.5)
    for s, (m, l) in enumerate(zip(models, separate)):
        l.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
        for p, (name, q) in zip(stacked.stacked, m.named_parameters()):
            torch.testing.assert_close(p.grad[s], q.grad, rtol=1e-4, atol=1e-6, msg=name)


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--config", "small",
                           "--steps", "1", "--repeats", "1", "--warmup", "0", "--threads", "1", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_seeds_mode_runs_end_to_end_on_the_cpu_and_graph_modes_are_refused(tmp_path):
    proc = run("--seeds", "2", "--out", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["seeds"] == {"ours": 2, "hf": 1} and result["tokens_per_s"]["ours"] > 0
    refused = run("--mode", "graph-step")
    assert refused.returncode == 2 and "needs a CUDA device" in refused.stderr.strip().splitlines()[-1]
