"""The artifact store: round trips, checksums on every load, clear errors, no pickles."""

import re
from pathlib import Path

import pytest
import torch

from icl_book.store import ArtifactError, ArtifactStore, atomic_write
from icl_book.models import Transformer, TransformerConfig

ROOT = Path(__file__).resolve().parents[1]


def tiny():
    torch.manual_seed(0)
    return Transformer(TransformerConfig(n_layer=1, n_head=2, d_model=8, n_ctx=6, vocab_size=7))


def save_tiny(store, name="tiny-smoke"):
    model = tiny()
    store.save(name, results={"accuracy": 0.5}, provenance={"command": "icl-book train tiny --profile smoke"},
               model=model, model_spec={"kind": "transformer", "config": model.cfg.to_dict()})
    return model


def test_round_trip_restores_identical_weights_and_results(tmp_store):
    model = save_tiny(tmp_store)
    loaded = tmp_store.model("tiny-smoke")
    x = torch.randint(7, (2, 6))
    torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)
    assert loaded.unembed.weight.data_ptr() == loaded.embed.weight.data_ptr()  # still tied
    assert tmp_store.results("tiny-smoke") == {"accuracy": 0.5}
    entry = tmp_store.entry("tiny-smoke")
    assert set(entry["files"]) == {"weights.safetensors", "results.json"}


def test_a_corrupted_file_is_refused_with_the_file_and_the_remake_command(tmp_store):
    save_tiny(tmp_store)
    path = tmp_store.path("tiny-smoke", "weights.safetensors")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError) as e:
        tmp_store.model("tiny-smoke")
    assert str(path) in str(e.value) and "corrupt" in str(e.value)
    assert "icl-book train tiny --profile smoke" in str(e.value)
    assert [err is None for _, _, err in tmp_store.verify()] == [True, False]


def test_a_missing_file_or_artifact_names_what_to_run(tmp_store):
    save_tiny(tmp_store)
    tmp_store.path("tiny-smoke", "results.json").unlink()
    with pytest.raises(ArtifactError, match="missing; remake it with: icl-book train tiny --profile smoke"):
        tmp_store.results("tiny-smoke")
    with pytest.raises(ArtifactError, match="icl-book train linreg --profile cpu"):
        tmp_store.results("linreg-cpu")


def test_a_corrupt_manifest_is_a_clear_error(tmp_store):
    save_tiny(tmp_store)
    tmp_store.manifest_path.write_text("{not json")
    with pytest.raises(ArtifactError, match="manifest.json is not valid JSON"):
        tmp_store.results("tiny-smoke")


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "f.json"
    atomic_write(target, "old")

    with pytest.raises(TypeError):
        atomic_write(target, 12345)  # not bytes: fails mid-write
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_shipped_artifacts_verify_and_hold_no_pickles():
    store = ArtifactStore(ROOT / "icl_book" / "artifacts")
    report = store.verify()
    assert report, "the package ships no artifacts"
    assert all(err is None for _, _, err in report), report
    files = [p for p in (ROOT / "icl_book" / "artifacts").rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"}]


def test_shipped_artifacts_record_their_provenance():
    store = ArtifactStore(ROOT / "icl_book" / "artifacts")
    for name in store.names():
        entry = store.entry(name)
        for key in ("command", "commit", "device", "wall_time_s", "torch", "created"):
            assert entry.get(key) not in (None, ""), (name, key)
        assert entry["command"].startswith("icl-book train ")


def test_no_unsafe_loading_in_the_package():
    for path in (ROOT / "icl_book").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"import (c?pickle|dill)|pickle\.loads?\(|np\.load\(.*allow_pickle=True", text), path
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, (path, line)


def test_model_of_a_results_only_artifact_is_a_clear_error(tmp_path):
    store = ArtifactStore(tmp_path)
    store.save("study-cpu", results={"x": 1}, provenance={"command": "icl-book train study --profile cpu"})
    assert store.results("study-cpu") == {"x": 1}
    with pytest.raises(ArtifactError, match="results only"):
        store.model("study-cpu")
