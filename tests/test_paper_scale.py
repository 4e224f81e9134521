"""tools/paper-scale at smoke scale on the CPU: benchmark modes run or are refused with the
benchmark's message, a training stopped by the end of its chunk continues in the next one."""

import json
import os
import subprocess
import sys
from pathlib import Path

from icl_book.store import ArtifactStore

ROOT = Path(__file__).resolve().parents[1]


def paper_scale(out, *args):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "paper-scale"), "--smoke", "--out", str(out), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads((out / "paper-scale.json").read_text())


def test_benchmark_modes_run_where_the_device_allows_and_are_refused_with_a_reason(tmp_path):
    out, state = paper_scale(tmp_path, "--tasks", "bench:eager,bench:graph-step")
    eager, graph = state["tasks"]["bench:eager"], state["tasks"]["bench:graph-step"]
    assert eager["status"] == "done"
    bench = json.loads((tmp_path / eager["file"]).read_text())
    assert bench["tokens_per_s"]["ours"] > 0
    assert graph["status"] == "refused" and "needs a CUDA device" in graph["note"]
    assert state["left"] == []


def test_a_training_cut_by_the_chunk_continues_in_the_next_chunk(tmp_path):
    # A 21 s budget keeps 1 s for work: the training checkpoints after its first steps and stops.
    out, state = paper_scale(tmp_path, "--tasks", "train:retrieval-d8q4", "--budget-s", "21")
    first = state["tasks"]["train:retrieval-d8q4"]
    assert first["status"] == "pending" and first["checkpoint"] >= 1
    assert state["left"] == ["train:retrieval-d8q4"]
    store = ArtifactStore(tmp_path / "artifacts")
    assert "retrieval-d8q4-smoke" not in store.names()  # nothing stored for an unfinished run
    out, state = paper_scale(tmp_path, "--tasks", "train:retrieval-d8q4")
    second = state["tasks"]["train:retrieval-d8q4"]
    assert second["status"] == "done" and second["resumed_from"] == first["checkpoint"]
    results = store.results("retrieval-d8q4-smoke")
    assert results["history"][-1]["step"] == results["train"]["steps"]
    assert state["left"] == [] and "all done" in out
