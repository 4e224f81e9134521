"""The throughput benchmark's modes: those a CPU can run go end to end at smoke size (torch.compile,
the optimiser step compiled into a graph, several seeds side by side); those that need CUDA graphs
stop with one line that names the mode and what it needs."""

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
import train_throughput  # noqa: E402
from train_throughput import CUDA_GRAPH_MODES, NextTokenLoss, Stepper  # noqa: E402

from icl_book.models.transformer import Transformer, TransformerConfig  # noqa: E402


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--config", "smoke",
                           "--steps", "2", "--repeats", "1", "--warmup", "1", "--threads", "1", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("mode, seeds", [("eager", 1), ("default", 1), ("compiled-step", 1), ("compiled-step", 2)])
def test_a_cpu_mode_runs_end_to_end_at_smoke_size(tmp_path, mode, seeds):
    out = tmp_path / "r.json"
    proc = run("--mode", mode, "--hf-mode", "eager", "--seeds", str(seeds), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["mode"] == {"ours": mode, "hf": "eager"} and result["seeds"]["ours"] == seeds
    assert result["tokens_per_s"]["ours"] > 0 and result["tokens_per_s"]["hf"] > 0
    losses = result["sanity_losses"]["ours"]  # the script itself stops unless these fall step by step
    assert all(b < a for a, b in zip(losses, losses[1:]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the modes run")
@pytest.mark.parametrize("mode", CUDA_GRAPH_MODES)
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_cuda_graph_mode_without_cuda_stops_with_one_line_naming_it(mode, device, capsys):
    with pytest.raises(SystemExit) as stop:
        train_throughput.parse_args(["--mode", mode, "--device", device])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"train_throughput.py: error: mode {mode} runs CUDA graphs and needs a CUDA device; "
                   f"this machine has none"]
    with pytest.raises(SystemExit):  # the baseline's mode too
        train_throughput.parse_args(["--hf-mode", mode])
    assert f"mode {mode} runs CUDA graphs" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        train_throughput.parse_args(["--device", "cuda"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "train_throughput.py: error: --device cuda was asked for, but PyTorch sees no CUDA device"]


def test_the_compiled_optimiser_step_updates_the_weights_as_the_eager_one_does():
    """compiled-step's AdamW and clipping, compiled by inductor, against the eager step from the same
    weights on the same batch: equal to float tolerance (inductor's kernels round differently)."""
    torch.set_num_threads(1)
    cfg = TransformerConfig(n_layer=1, n_head=2, d_model=32, n_ctx=16, vocab_size=11, dropout=0.0)
    nets = []
    for _ in range(2):
        torch.manual_seed(0)
        nets.append(NextTokenLoss(Transformer(cfg), False))
    x, y = torch.randint(11, (4, 16)), torch.randint(11, (4, 16))
    eager = Stepper(nets[0], "eager", torch.device("cpu"), bf16=False, grad_clip=0.5)
    compiled = Stepper(nets[1], "compiled-step", torch.device("cpu"), bf16=False, grad_clip=0.5)
    for _ in range(3):
        torch.testing.assert_close(compiled(x, y), eager(x, y), rtol=1e-5, atol=1e-6)
    # Adam divides by the gradient's own size, so where a gradient is near zero its rounding moves
    # the update by a visible part of lr (3e-4 a step): 1e-5 is 1 % of what 3 steps move a weight.
    for (name, a), b in zip(nets[0].named_parameters(), nets[1].parameters()):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5, msg=lambda m: f"{name}: {m}")
    torch.manual_seed(0)
    start = Transformer(cfg)
    assert any(not torch.equal(a, s) for a, s in zip(nets[1].model.parameters(), start.parameters())), \
        "the compiled step must change the weights"
