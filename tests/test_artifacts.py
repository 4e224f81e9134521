"""The artifact store: round trips, checksums on every load, clear errors, no pickles."""

import re
from pathlib import Path

import pytest
import torch

from icl_book.files import atomic_write
from icl_book.store import ArtifactError, ArtifactStore
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
    for name, t in model.state_dict().items():           # the weights come back bit for bit
        assert torch.equal(loaded.state_dict()[name], t), name
    # The same weights through the same ops on the same input, in one process: the same computation
    # repeated, so bit equality is the right test here (not across machines or orderings).
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


# ---- nothing lost: atomic saves, one writer, verify sees everything ----------------------

def test_a_full_disk_mid_save_leaves_the_old_artifact_intact_and_verified(tmp_store, monkeypatch):
    import errno
    import os

    save_tiny(tmp_store)
    real_fsync, calls = os.fsync, []

    def full_after_the_first_file(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_after_the_first_file)
    with pytest.raises(OSError, match="No space left"):
        tmp_store.save("tiny-smoke", results={"accuracy": 0.9}, provenance={"command": "icl-book train tiny"},
                       model=tiny(), model_spec={"kind": "transformer", "config": tiny().cfg.to_dict()})
    monkeypatch.undo()
    assert all(err is None for _, _, err in tmp_store.verify()), tmp_store.verify()
    assert tmp_store.results("tiny-smoke") == {"accuracy": 0.5}
    assert sorted(p.name for p in (tmp_store.root / "tiny-smoke").iterdir()) == ["results.json", "weights.safetensors"]


def test_ctrl_c_between_the_renames_of_a_save_waits_until_the_manifest_is_written(tmp_store, monkeypatch):
    import os
    import signal

    save_tiny(tmp_store)
    real_replace = os.replace

    def interrupted_replace(src, dst):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C right after the first file is renamed
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted_replace)
    # Ctrl-C raises KeyboardInterrupt even when the suite runs in the background (where SIGINT is ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            tmp_store.save("tiny-smoke", results={"accuracy": 0.9}, provenance={"command": "icl-book train tiny"},
                           model=tiny(), model_spec={"kind": "transformer", "config": tiny().cfg.to_dict()})
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    assert all(err is None for _, _, err in tmp_store.verify()), tmp_store.verify()
    assert tmp_store.results("tiny-smoke") == {"accuracy": 0.9}


def test_saves_at_the_same_time_lose_no_manifest_entry(tmp_store, monkeypatch):
    """Four writers that each read the manifest before any of them writes it: with the store's
    lock each entry survives (without it, the last writer's manifest drops the other three)."""
    import threading
    import time

    real_manifest = ArtifactStore.manifest

    def slow_manifest(self):
        m = real_manifest(self)
        time.sleep(0.2)
        return m

    monkeypatch.setattr(ArtifactStore, "manifest", slow_manifest)
    threads = [threading.Thread(target=tmp_store.save, args=(f"w{i}-smoke",),
                                kwargs={"results": {"i": i}, "provenance": {"command": "icl-book train w"}})
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.undo()
    assert tmp_store.names() == [f"w{i}-smoke" for i in range(4)]
    assert all(err is None for _, _, err in tmp_store.verify())


def test_verify_fails_on_files_and_folders_the_manifest_does_not_list(tmp_store):
    save_tiny(tmp_store)
    (tmp_store.root / "tiny-smoke" / "notes.txt").write_text("x")
    (tmp_store.root / "orphan-cpu").mkdir()
    (tmp_store.root / "stray.json").write_text("{}")
    errors = {(name, filename): err for name, filename, err in tmp_store.verify() if err}
    assert set(errors) == {("tiny-smoke", "notes.txt"), ("orphan-cpu", ""), ("stray.json", "")}
    assert all("is not listed in" in e for e in errors.values())
    assert str(tmp_store.root / "orphan-cpu") in errors[("orphan-cpu", "")]


def test_a_new_version_with_fewer_files_leaves_no_stale_file(tmp_store):
    save_tiny(tmp_store)
    tmp_store.save("tiny-smoke", results={"x": 1}, provenance={"command": "icl-book train tiny"})
    assert all(err is None for _, _, err in tmp_store.verify())
    assert [p.name for p in (tmp_store.root / "tiny-smoke").iterdir()] == ["results.json"]


@pytest.mark.parametrize("text, message", [
    ("[]", "a JSON list, not an object of artifacts"),
    ('{"a-cpu": 3}', "entry 'a-cpu' has no 'files' object"),
    ('{"a-cpu": {"files": {"results.json": 7}}}', "needs a sha256 hex digest"),
    ('{"../x": {"files": {}}}', "'../x' is not an artifact name"),
])
def test_a_manifest_of_the_wrong_shape_is_a_clear_error(tmp_store, text, message):
    tmp_store.root.mkdir(parents=True)
    tmp_store.manifest_path.write_text(text)
    with pytest.raises(ArtifactError, match="is not a manifest") as e:
        tmp_store.names()
    assert message in str(e.value) and "git checkout --" in str(e.value)


@pytest.mark.parametrize("filename, garbage", [("results.json", b"{not json"), ("weights.safetensors", b"\x00" * 9)])
def test_an_artifact_file_that_matches_its_checksum_but_cannot_be_parsed_is_a_clear_error(tmp_store, filename, garbage):
    import hashlib
    import json

    save_tiny(tmp_store)
    tmp_store.path("tiny-smoke", filename).write_bytes(garbage)
    manifest = json.loads(tmp_store.manifest_path.read_text())
    manifest["tiny-smoke"]["files"][filename] = hashlib.sha256(garbage).hexdigest()
    tmp_store.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="matches its checksum but cannot be read.*remake it with: icl-book train tiny"):
        tmp_store.model("tiny-smoke") if filename.endswith("safetensors") else tmp_store.results("tiny-smoke")
    assert [err is None for _, fn, err in tmp_store.verify() if fn == filename] == [False]


def test_errors_name_paths_from_the_current_directory(tmp_path, monkeypatch):
    """Run from the repository root, a message's path and its git command work as printed."""
    monkeypatch.chdir(tmp_path)
    store = ArtifactStore(tmp_path / "icl_book" / "artifacts")
    save_tiny(store)
    store.manifest_path.write_text("{not json")
    with pytest.raises(ArtifactError, match=re.escape("git checkout -- icl_book/artifacts/manifest.json")):
        store.names()


def test_build_outputs_and_store_locks_are_not_tracked():
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = ["build/lib/icl_book/store.py", "icl_book/artifacts/.lock", "runs/linreg-smoke/.lock"]
    out = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.split() == paths


def test_a_save_killed_during_its_renames_is_finished_by_the_next_access(tmp_store):
    """SIGKILL (no handler runs) after the first rename: the journal left behind lets the store
    complete the new version instead of mixing it with the old one."""
    import multiprocessing
    import os

    save_tiny(tmp_store)

    def killed_after_one_rename():
        real_replace, done = os.replace, []

        def replace_then_die(src, dst):
            real_replace(src, dst)
            if not str(dst).endswith(".journal"):
                done.append(dst)
                if len(done) == 1:
                    os._exit(9)               # like SIGKILL: no finally, no except
        os.replace = replace_then_die
        tmp_store.save("tiny-smoke", results={"accuracy": 0.9}, provenance={"command": "icl-book train tiny"},
                       model=tiny(), model_spec={"kind": "transformer", "config": tiny().cfg.to_dict()})

    proc = multiprocessing.get_context("fork").Process(target=killed_after_one_rename)
    proc.start()
    proc.join()
    assert proc.exitcode == 9 and (tmp_store.root / ".journal").exists()
    # one file of the new version is in place, the rest staged: a read finishes the save
    assert tmp_store.results("tiny-smoke") == {"accuracy": 0.9}
    assert not (tmp_store.root / ".journal").exists()
    assert all(err is None for _, _, err in tmp_store.verify()), tmp_store.verify()
    assert tmp_store.entry("tiny-smoke")["command"] == "icl-book train tiny"
