"""Training throughput of the book's transformer against Hugging Face GPT-2, side by side.

Both models get the same shapes, the same initial weights, the same random token batches,
the same loss (next-token cross-entropy), the same optimiser (AdamW, lr 3e-4) and the same
gradient clipping as ``icl_book.train``. The script prints tokens per second for each, the
ratio ours / HF, and on CUDA the model FLOPs utilisation (MFU).

    python benchmarks/train_throughput.py --config small --device cpu --out benchmarks/results/small-cpu.json
    python benchmarks/train_throughput.py --config ginc --device cuda --mode graph-step --out benchmarks/results/ginc-h100.json
    python benchmarks/train_throughput.py --config small --device cpu --seeds 3   # ours: 3 seeds side by side
    python benchmarks/train_throughput.py --config smoke --mode compiled-step --steps 2 --repeats 1  # a CPU check

Timing follows nanoGPT's bench.py: warm-up steps (compilation included) are not timed; each
timed repeat synchronises the GPU before reading the clock; we report the median repeat.
The two models' repeats alternate, so background load hits both alike.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from torch import nn
from transformers import GPT2LMHeadModel

from common import write_result
from icl_book.provenance import cpu_name, git_commit
from icl_book.models.gpt2 import gpt2_from
from icl_book.models.transformer import Transformer, TransformerConfig
from icl_book.train import lr_tensor

# The GINC paper's model (Xie et al. 2022): a 4-layer GPT-2 of width 768 over a 51-token
# vocabulary, trained on 8 sequences of 1024 tokens. "small" takes about 30 s on 2 idle CPU cores.
CONFIGS = {
    "ginc": dict(n_layer=4, d_model=768, n_head=12, n_ctx=1024, vocab_size=51, batch=8, seq=1024),
    "small": dict(n_layer=2, d_model=128, n_head=4, n_ctx=256, vocab_size=51, batch=8, seq=256),
    "smoke": dict(n_layer=1, d_model=32, n_head=2, n_ctx=32, vocab_size=51, batch=2, seq=32),  # a mode runs at all
}

# eager: no compile. default / reduce-overhead / max-autotune: torch.compile's modes (the last
# two use CUDA graphs for forward and backward; the optimiser step stays outside).
# compiled-step: torch.compile (default) of the model, and of clipping plus the AdamW step as one
# more compiled function (the optimiser in a graph without CUDA graphs: runs on the CPU too).
# graph-step: torch.compile (default mode) inside one hand-captured CUDA graph holding forward,
# backward, clipping and the AdamW step, replayed each step (CUDA only).
MODES = ("eager", "default", "compiled-step", "reduce-overhead", "max-autotune", "graph-step")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune", "graph-step")

# Dense bf16 peak FLOP/s by device name (first match wins, so the PCIe and NVL H100s come first).
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12), ("H200", 989e12), ("A100", 312e12))

LR = 3e-4
SANITY_STEPS = 6   # more than GRAPH_WARMUP + 1, so graph-step's check includes real replays
GRAPH_WARMUP = 3   # eager steps on a side stream before capture, as the CUDA-graphs docs do
N_BATCHES = 4      # distinct random batches the timed steps cycle through


def build_models(spec: dict, hf_activation: str, seed: int) -> tuple[Transformer, GPT2LMHeadModel]:
    torch.manual_seed(seed)
    ours = Transformer(TransformerConfig(
        n_layer=spec["n_layer"], n_head=spec["n_head"], d_model=spec["d_model"], n_ctx=spec["n_ctx"],
        vocab_size=spec["vocab_size"], dropout=0.0, tie_embeddings=True))
    hf = gpt2_from(ours, activation=hf_activation)   # the fused attention ours uses too, on every device
    assert hf.config._attn_implementation == "sdpa", hf.config._attn_implementation
    return ours, hf.train()


class NextTokenLoss(nn.Module):
    """A model plus its loss in one module, so that torch.compile sees and fuses the loss too."""

    def __init__(self, model: nn.Module, is_hf: bool):
        super().__init__()
        self.model, self.is_hf = model, is_hf

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = self.model(input_ids=x).logits if self.is_hf else self.model(x)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())


class SeedsNextTokenLoss(nn.Module):
    """Several seeds of our model side by side: their parameters stacked along a leading axis (one
    leaf tensor per weight, so AdamW steps all seeds in the same kernels) and the loss evaluated
    once under ``torch.func.vmap``, every seed on the same batch. ``forward`` returns the mean of
    the seeds' losses; ``clip_`` clips each seed's gradient norm on its own, as separate runs would."""

    def __init__(self, models: list[Transformer]):
        super().__init__()
        self.base = models[0]
        names = [n for n, _ in self.base.named_parameters()]
        self.names = names
        self.stacked = nn.ParameterList(
            nn.Parameter(torch.stack([dict(m.named_parameters())[n].detach() for m in models])) for n in names)
        self.buffers_ = dict(self.base.named_buffers())

        def one(params, x, y):
            logits = torch.func.functional_call(self.base, (params, self.buffers_), (x,))
            return F.cross_entropy(logits.flatten(0, 1), y.flatten())
        self.losses = torch.func.vmap(one, in_dims=(0, None, None))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.losses(dict(zip(self.names, self.stacked)), x, y).mean()

    def clip_(self, max_norm: float) -> None:
        grads = [p.grad for p in self.stacked]
        norms = torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt()   # [S], no host sync
        coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))


class Stepper:
    """One training step (forward, loss, backward, clip, AdamW step) of one model in one mode.
    Calling it runs exactly one real step and returns that step's loss (before the update)."""

    def __init__(self, net: NextTokenLoss, mode: str, device: torch.device, bf16: bool, grad_clip: float):
        self.net, self.mode, self.device, self.bf16, self.grad_clip = net, mode, device, bf16, grad_clip
        self.params = list(net.parameters())
        cuda = device.type == "cuda"
        # The learning rate as icl_book.train holds it: a 0-d tensor on the device (a captured graph
        # reads it at every replay). Fused AdamW on CUDA, as the loop uses; capturable keeps its step
        # count on the GPU, which a captured graph needs. compiled-step leaves the kernels to inductor.
        self.lr = lr_tensor(LR, device)
        self.opt = torch.optim.AdamW(self.params, lr=self.lr, weight_decay=0.0, fused=cuda and mode != "compiled-step",
                                     capturable=mode == "graph-step")
        compile_mode = {"eager": None, "graph-step": "default", "compiled-step": "default"}.get(mode, mode)
        self.fn = torch.compile(net, mode=compile_mode) if compile_mode else net
        self.update = torch.compile(self._clip_and_update) if mode == "compiled-step" else self._clip_and_update
        self.graph, self.calls = None, 0

    def _step(self, x, y):
        # Autocast's weight cache cannot live inside a CUDA graph. graph-step turns it off on every
        # call, warm-up included, since torch.compile guards on it and must not recompile mid-capture.
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16,
                            cache_enabled=self.mode != "graph-step"):
            loss = self.fn(x, y)
        loss.backward()
        self.update()
        return loss.detach()

    def _clip_and_update(self):
        if self.grad_clip and hasattr(self.net, "clip_"):
            self.net.clip_(self.grad_clip)  # each seed's own norm (the loss is their mean: scale-free per seed)
        elif self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)  # no host sync: safe to capture
        self.opt.step()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.mode == "graph-step":
            return self._graph_step(x, y)
        if self.mode in CUDA_GRAPH_MODES:
            # Tell torch.compile's CUDA graphs a new iteration began, so it may reuse its buffers.
            torch.compiler.cudagraph_mark_step_begin()
        self.opt.zero_grad(set_to_none=True)
        return self._step(x, y)

    def _graph_step(self, x, y):
        self.calls += 1
        if self.calls <= GRAPH_WARMUP:
            # Warm up on a side stream (compiles the model, creates AdamW's state, sets up cuBLAS)
            # so that none of that one-off work lands inside the graph.
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.opt.zero_grad(set_to_none=True)
                loss = self._step(x, y)
            torch.cuda.current_stream().wait_stream(side)
            return loss
        if self.graph is None:
            self.x, self.y = x.clone(), y.clone()
            # Grads set to None before capture: backward then allocates them from the graph's pool
            # and every replay overwrites them, so no zero_grad is needed afterwards.
            self.opt.zero_grad(set_to_none=True)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.loss = self._step(self.x, self.y)
        # Capture only records kernels, so the capturing call replays too: one call, one step.
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()
        return self.loss


def sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(stepper: Stepper, batches, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` training steps. The GPU runs ahead of Python, so synchronise at
    both ends: the clock then brackets exactly the queued work."""
    sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        stepper(*batches[i % len(batches)])
    sync(device)
    return time.perf_counter() - t0


def check_learns(name: str, stepper: Stepper, x, y) -> list[float]:
    """Train a few steps on one repeated batch; the loss must fall at every step. A model whose
    gradients or update are broken fails here instead of being timed."""
    losses = [stepper(x, y).item() for _ in range(SANITY_STEPS)]
    falling = all(math.isfinite(v) for v in losses) and all(b < a for a, b in zip(losses, losses[1:]))
    if not falling:
        sys.exit(f"{name}: the loss on a repeated batch did not fall step by step: {losses}")
    return losses


def flops_per_token(spec: dict, n_params: int) -> int:
    """nanoGPT's estimate (PaLM, appendix B): 6 FLOPs per weight per token for the forward and
    backward matmuls, plus 12 L T d for attention scores and mixing. Position embeddings are a
    lookup, not a matmul, so they leave N; the tied token embedding stays as the LM head."""
    n = n_params - spec["n_ctx"] * spec["d_model"]
    return 6 * n + 12 * spec["n_layer"] * spec["seq"] * spec["d_model"]


def peak_flops(device_name: str, override_tflops: float | None) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    return next((peak for key, peak in PEAK_BF16 if key in device_name), None)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()



def refuse(message: str):
    """Stop with one line on stderr (no usage text), the way argparse exits on a bad argument."""
    print(f"train_throughput.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(CONFIGS), default="small")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after the sanity check")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per model; the median is reported")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="how ours runs; default: 'default' (torch.compile) on CUDA, 'eager' on CPU")
    p.add_argument("--hf-mode", choices=MODES, default=None,
                   help="how HF GPT-2 runs; default: the issue's baseline, 'default' on CUDA, 'eager' on CPU")
    p.add_argument("--compile", action="store_true",
                   help="on CPU: torch.compile both models (sets any mode left unset to 'default')")
    p.add_argument("--hf-activation", default="gelu_new", choices=("gelu_new", "gelu_pytorch_tanh"),
                   help="HF's GELU: gelu_new (Python ops) or gelu_pytorch_tanh (the same function, one kernel, as ours)")
    p.add_argument("--grad-clip", type=float, default=1.0, help="as icl_book.train; 0 disables")
    p.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak for MFU on an unlisted GPU")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=1,
                   help="train this many seeds of ours side by side (stacked weights under vmap); "
                        "ours' tokens/s then counts every seed's tokens")
    p.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = p.parse_args(argv)
    default = "default" if args.device == "cuda" or args.compile else "eager"
    args.mode, args.hf_mode = args.mode or default, args.hf_mode or default
    for mode in (args.mode, args.hf_mode):
        if mode in CUDA_GRAPH_MODES and not torch.cuda.is_available():
            refuse(f"mode {mode} runs CUDA graphs and needs a CUDA device; this machine has none")
        if mode in CUDA_GRAPH_MODES and args.device != "cuda":
            refuse(f"mode {mode} runs CUDA graphs and needs a CUDA device; pass --device cuda")
    if args.device == "cuda" and not torch.cuda.is_available():
        refuse("--device cuda was asked for, but PyTorch sees no CUDA device")
    if args.seeds < 1:
        p.error("--seeds must be >= 1")
    if min(args.steps, args.repeats) < 1 or args.warmup < 0:
        p.error("--steps and --repeats must be >= 1, --warmup >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = CONFIGS[args.config]
    bf16 = device.type == "cuda"  # as icl_book.train: bf16 autocast on CUDA, fp32 on CPU
    load_before = os.getloadavg()

    ours, hf = build_models(spec, args.hf_activation, args.seed)
    n_ours, n_hf = ours.num_params(), sum(p.numel() for p in hf.parameters())
    # Both tie the LM head to the token embedding and neither has an LM-head bias, so the counts agree.
    assert n_ours == n_hf, f"parameter counts differ: ours {n_ours}, HF {n_hf}"
    ours.to(device).train()
    hf.to(device).train()

    g = torch.Generator().manual_seed(args.seed)
    tokens = torch.randint(spec["vocab_size"], (N_BATCHES, spec["batch"], spec["seq"] + 1), generator=g)
    batches = [(t[:, :-1].contiguous().to(device), t[:, 1:].contiguous().to(device)) for t in tokens]

    # Same weights, same input: the logits must agree (fp32, before any TF32 is allowed).
    with torch.no_grad():
        logit_diff = (ours(batches[0][0]) - hf(input_ids=batches[0][0]).logits).abs().max().item()
    assert logit_diff < 1e-4, f"ours and HF compute different logits (max |diff| {logit_diff:.2e})"
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for any fp32 matmul left outside autocast

    if args.seeds > 1:  # seed i's initial weights: torch's generator seeded with args.seed + i
        models = [ours]
        for i in range(1, args.seeds):
            torch.manual_seed(args.seed + i)
            models.append(Transformer(ours.cfg).to(device).train())
        ours_net = SeedsNextTokenLoss(models)
    else:
        ours_net = NextTokenLoss(ours, False)
    steppers = {"ours": Stepper(ours_net, args.mode, device, bf16, args.grad_clip),
                "hf": Stepper(NextTokenLoss(hf, True), args.hf_mode, device, bf16, args.grad_clip)}
    sanity, times = {}, {name: [] for name in steppers}
    for name, stepper in steppers.items():
        t0 = time.perf_counter()
        sanity[name] = check_learns(name, stepper, *batches[0])  # first calls: compilation happens here
        time_steps(stepper, batches, args.warmup, device)
        print(f"{name}: sanity losses {' '.join(f'{v:.4f}' for v in sanity[name])}; "
              f"warm-up (compile included) {time.perf_counter() - t0:.1f}s", flush=True)
    for _ in range(args.repeats):
        for name, stepper in steppers.items():
            times[name].append(time_steps(stepper, batches, args.steps, device))

    tokens_per_step = spec["batch"] * spec["seq"]
    seeds_of = {"ours": args.seeds, "hf": 1}
    per_repeat = {name: [seeds_of[name] * args.steps * tokens_per_step / t for t in ts] for name, ts in times.items()}
    tps = {name: statistics.median(v) for name, v in per_repeat.items()}
    # Load only ever slows a repeat down, so on a shared machine the best repeat is a useful second figure.
    best = {name: max(v) for name, v in per_repeat.items()}
    ratio = tps["ours"] / tps["hf"]
    # Each repeat times ours then HF back to back, so a per-repeat ratio cancels slow drifts in load.
    ratio_per_repeat = [a / b for a, b in zip(per_repeat["ours"], per_repeat["hf"])]
    name_of_device = device_name(device)
    fpt = flops_per_token(spec, n_ours)
    peak = peak_flops(name_of_device, args.peak_tflops) if device.type == "cuda" else None
    mfu = {name: fpt * v / peak for name, v in tps.items()} if peak else None

    print(f"\nconfig {args.config} on {name_of_device} ({'bf16 autocast' if bf16 else 'fp32'}), "
          f"{n_ours:,} parameters, {tokens_per_step:,} tokens/step, median of {args.repeats} x {args.steps} steps")
    for name, mode in (("ours", args.mode), ("hf", args.hf_mode)):
        extra = f"  MFU {100 * mfu[name]:.1f}%" if mfu else ""
        print(f"  {name:4s} [{mode}]  {tps[name]:>12,.0f} tokens/s{extra}  (best repeat {best[name]:,.0f})")
    print(f"  ratio ours / HF: {ratio:.3f}  (per repeat: {' '.join(f'{r:.2f}' for r in ratio_per_repeat)})")

    result = {
        "benchmark": "train_throughput",
        "config": args.config, "model": spec, "params": {"ours": n_ours, "hf": n_hf},
        "device": args.device, "device_name": name_of_device,
        "dtype": "bf16 autocast" if bf16 else "fp32",
        "mode": {"ours": args.mode, "hf": args.hf_mode},
        "hf_activation": args.hf_activation, "grad_clip": args.grad_clip, "lr": LR,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
        "tokens_per_step": tokens_per_step, "seeds": {"ours": args.seeds, "hf": 1},
        "tokens_per_s": tps, "tokens_per_s_per_repeat": per_repeat, "ratio": ratio,
        "tokens_per_s_best": best, "ratio_best": best["ours"] / best["hf"],
        "ratio_per_repeat": ratio_per_repeat,
        "flops_per_token": fpt, "peak_flops": peak, "mfu": mfu,
        "sanity_losses": sanity, "initial_logit_max_abs_diff": logit_diff,
        "cpu_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "load_avg_1_5_15": {"before": load_before, "after": os.getloadavg()},
    }
    return write_result(result, args.out)


if __name__ == "__main__":
    main()
