"""The store against files a stranger wrote: planted journals, symbolic links, relative paths,
edited manifest commands, a damaged store under ``claims``. Each case once broke something
outside the store or reported damage as success; these keep them fixed."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from icl_book.cli import main
from icl_book.store import JOURNAL_KIND, ArtifactError, ArtifactStore

ROOT = Path(__file__).resolve().parents[1]
SMOKE_SHORT = ["--set", "steps=20", "--set", "warmup_steps=2", "--quiet"]


def saved(store: ArtifactStore, name="x-smoke", value=1, command=None) -> ArtifactStore:
    store.save(name, results={"a": value},
               provenance={"experiment": name.rsplit("-", 1)[0], "profile": name.rsplit("-", 1)[1],
                           "command": command or f"icl-book train {name.rsplit('-', 1)[0]} --profile "
                                                 f"{name.rsplit('-', 1)[1]} --fresh --quiet"})
    return store


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# ---- planted journals ----------------------------------------------------------------------

@pytest.fixture
def victim(tmp_path):
    """A file outside the store that a planted journal would overwrite or move."""
    path = tmp_path / "outside" / "precious.txt"
    path.parent.mkdir()
    path.write_text("mine")
    (tmp_path / "outside" / "payload.txt").write_text("attacker")
    return path


def plant(store: ArtifactStore, renames, kind=JOURNAL_KIND) -> Path:
    journal = store.root / ".journal"
    journal.write_text(json.dumps({"journal": kind, "renames": renames} if kind else renames))
    return journal


@pytest.mark.parametrize("how", ["dotdot", "absolute", "old list shape", "unstaged name", "bad staged file"])
@pytest.mark.parametrize("trigger", ["verify", "read of a changed file", "save"])
def test_a_planted_journal_is_refused_kept_and_touches_nothing(tmp_store, victim, how, trigger):
    store = saved(tmp_store)
    outside = victim.parent
    rel_out = os.path.relpath(outside, store.root)
    renames = {
        "dotdot": [[f"{rel_out}/payload.txt", f"{rel_out}/precious.txt"], [".manifest.json.ab12.tmp", "manifest.json"]],
        "absolute": [[str(outside / "payload.txt"), str(victim)], [".manifest.json.ab12.tmp", "manifest.json"]],
        "old list shape": [[f"{rel_out}/payload.txt", f"{rel_out}/precious.txt"]],
        "unstaged name": [["x-smoke/evil", "x-smoke/results.json"], [".manifest.json.ab12.tmp", "manifest.json"]],
        "bad staged file": [["x-smoke/.results.json.ab12.tmp", "x-smoke/results.json"],
                            [".manifest.json.ab12.tmp", "manifest.json"]],
    }[how]
    if how == "bad staged file":   # the right shape, but not what the staged manifest says it staged
        (store.root / "x-smoke" / ".results.json.ab12.tmp").write_text('{"a": 666}')
        (store.root / ".manifest.json.ab12.tmp").write_text(store.manifest_path.read_text())
    journal = plant(store, renames, kind=None if how == "old list shape" else JOURNAL_KIND)
    before = store.path("x-smoke", "results.json").read_bytes()

    if trigger == "verify":
        with pytest.raises(ArtifactError, match="was refused and kept, nothing renamed"):
            store.verify()
    elif trigger == "read of a changed file":   # a checksum failure is what starts a roll-forward on reads
        store.path("x-smoke", "results.json").write_text('{"a": 2}')
        with pytest.raises(ArtifactError, match="was refused and kept"):
            store.results("x-smoke")
        store.path("x-smoke", "results.json").write_bytes(before)
    else:
        with pytest.raises(ArtifactError, match="was refused and kept"):
            saved(store, value=3)
    assert victim.read_text() == "mine" and (outside / "payload.txt").read_text() == "attacker"
    assert journal.exists()
    assert store.path("x-smoke", "results.json").read_bytes() == before


def test_the_cli_reports_a_refused_journal_in_one_line_and_exits_3(tmp_store, victim, capsys):
    saved(tmp_store)
    plant(tmp_store, [[str(victim.parent / "payload.txt"), str(victim)], [".manifest.json.ab12.tmp", "manifest.json"]])
    assert main(["verify"]) == 3
    assert "was refused and kept" in one_line_error(capsys)
    assert victim.read_text() == "mine"


def test_a_journal_that_is_a_symbolic_link_is_refused(tmp_store, victim):
    saved(tmp_store)
    (tmp_store.root / ".journal").symlink_to(victim)
    with pytest.raises(ArtifactError, match="symbolic link"):
        tmp_store.finish_interrupted_save()
    assert victim.read_text() == "mine"


def test_import_never_rolls_forward_the_source_stores_journal(tmp_path, tmp_store, capsys):
    source = saved(ArtifactStore(tmp_path / "theirs"))
    journal = plant(source, [["x-smoke/.results.json.ab12.tmp", "x-smoke/results.json"],
                             [".manifest.json.ab12.tmp", "manifest.json"]])
    source.path("x-smoke", "results.json").write_text('{"a": 5}')   # its checksum fails
    assert main(["import", str(source.root), "x-smoke"]) == 3
    assert "unfinished save" in one_line_error(capsys)
    assert journal.exists() and "x-smoke" not in tmp_store.names()


# ---- symbolic links and folders the store did not make ---------------------------------------

def test_saving_through_a_symlinked_artifact_folder_is_refused_and_its_target_kept(tmp_store, tmp_path):
    saved(tmp_store)
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    folder = tmp_store.root / "x-smoke"
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    folder.symlink_to(target)
    with pytest.raises(ArtifactError, match="is a symbolic link"):
        saved(tmp_store, value=2)
    with pytest.raises(ArtifactError, match="is a symbolic link"):
        tmp_store.results("x-smoke")
    assert [p.name for p in target.iterdir()] == ["thesis.tex"]


def test_a_save_removes_only_the_previous_versions_files(tmp_store):
    store = saved(tmp_store)
    (store.root / "x-smoke" / "notes.txt").write_text("a reader's notes")
    (store.root / "x-smoke" / "checkpoint-10").mkdir()
    saved(store, value=2)
    assert (store.root / "x-smoke" / "notes.txt").read_text() == "a reader's notes"
    assert (store.root / "x-smoke" / "checkpoint-10").is_dir()
    assert store.results("x-smoke") == {"a": 2}
    problems = [err for _, fn, err in store.verify() if err]
    assert len(problems) == 2 and all("is not listed in" in p for p in problems)


def test_verify_on_a_symbolic_link_says_remove_the_link_not_its_target(tmp_store, tmp_path):
    saved(tmp_store)
    (tmp_path / "target").mkdir()
    (tmp_store.root / "linked").symlink_to(tmp_path / "target")
    [problem] = [err for name, _, err in tmp_store.verify() if err]
    assert "remove the link itself" in problem and "not what it points to" in problem


def test_the_same_folder_for_runs_and_the_store_is_refused_before_training(tmp_path, capsys):
    folder = tmp_path / "x"
    run = folder / "linreg-smoke"
    (run / "checkpoint-10").mkdir(parents=True)
    (run / "checkpoint-10" / "model.safetensors").write_bytes(b"weights")
    assert main(["train", "linreg", "--profile", "smoke", "--run-dir", str(folder), "--store", str(folder),
                 *SMOKE_SHORT]) == 5
    assert "overlaps the run directory" in one_line_error(capsys)
    assert (run / "checkpoint-10" / "model.safetensors").read_bytes() == b"weights"


def test_a_store_that_is_a_file_is_refused_before_training(tmp_path, capsys, monkeypatch):
    import icl_book.experiments as experiments

    monkeypatch.setattr(experiments, "train_seeds", lambda *a, **k: pytest.fail("trained into a store it cannot write"))
    (tmp_path / "store").write_text("not a folder")
    assert main(["train", "linreg", "--profile", "smoke", "--run-dir", str(tmp_path / "runs"),
                 "--store", str(tmp_path / "store"), *SMOKE_SHORT]) == 5
    assert "is a file, not a folder" in one_line_error(capsys)


def test_a_file_that_cannot_be_read_is_reported_as_a_read(tmp_store, capsys):
    store = saved(tmp_store)
    path = store.path("x-smoke", "results.json")
    path.unlink()
    path.mkdir()   # a read fails with EISDIR whoever runs it (root included)
    with pytest.raises(ArtifactError, match="is missing"):
        store.results("x-smoke")
    path.rmdir()
    store.manifest_path.unlink()
    store.manifest_path.mkdir()
    with pytest.raises(ArtifactError, match="cannot be read") as e:
        store.names()
    assert "writing" not in str(e.value)


# ---- relative paths --------------------------------------------------------------------------

def test_a_relative_store_works_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = saved(ArtifactStore("rel/store"))
    monkeypatch.chdir("/")
    assert store.results("x-smoke") == {"a": 1}   # the root was made absolute when the store was opened
    assert ArtifactStore(tmp_path / "rel" / "store").results("x-smoke") == {"a": 1}


@pytest.mark.parametrize("how", ["--store", "ICL_BOOK_ARTIFACTS"])
def test_training_into_a_relative_store_saves(tmp_path, monkeypatch, capsys, how):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ICL_BOOK_ARTIFACTS", raising=False)
    extra = ["--store", "mine"] if how == "--store" else []
    if how == "ICL_BOOK_ARTIFACTS":
        monkeypatch.setenv("ICL_BOOK_ARTIFACTS", "mine")
    assert main(["train", "linreg", "--profile", "smoke", *SMOKE_SHORT, *extra]) == 0
    assert ArtifactStore(tmp_path / "mine").results("linreg-smoke")["profile"] == "smoke"
    assert main(["import", "mine", "linreg-smoke", "--store", "copy"]) == 0
    assert ArtifactStore(tmp_path / "copy").entry("linreg-smoke") == ArtifactStore(tmp_path / "mine").entry("linreg-smoke")


def readme_commands() -> list[str]:
    """The command lines of the README's 'The command line' block, comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## The command line", 1)[1].split("```", 2)[1]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip().startswith("icl-book")]


def test_the_readme_commands_run_as_written_from_a_fresh_directory(tmp_path):
    """Every ``icl-book`` line of the README parses; those that take seconds (smoke trainings,
    list, verify, claims) run in a fresh directory with the installed command and exit 0; the
    first training command stores its artifact where the README says."""
    from icl_book.cli import _parser

    commands = readme_commands()
    assert commands[0] == "icl-book train linreg --profile smoke"
    for command in commands:
        _parser().parse_args(shlex.split(command)[1:])
    quick = [c for c in commands if "--profile smoke" in c or shlex.split(c)[1] in ("list", "verify", "claims")]
    assert len(quick) >= 5, quick
    exe = Path(sys.executable).with_name("icl-book")
    env = {k: v for k, v in os.environ.items() if k != "ICL_BOOK_ARTIFACTS"} | {"OMP_NUM_THREADS": "1"}
    for command in quick:
        argv = shlex.split(command)
        proc = subprocess.run([str(exe), *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"{command}: {proc.stderr[-2000:]}"
    assert ArtifactStore(tmp_path / "runs" / "artifacts").results("linreg-smoke")["profile"] == "smoke"


# ---- recorded commands -------------------------------------------------------------------------

@pytest.mark.parametrize("command, why", [
    ("icl-book train linreg --profile cpu --fresh --quiet", "it trains linreg-cpu"),
    ("icl-book train linreg --profile smoke --seeds 3", "it trains linreg-smoke-seed3"),
    ("icl-book train linreg --profile smoke --store /tmp/elsewhere", "its own --store"),
    ("icl-book train linreg --profile smoke --set 'lr=1e-3", "does not parse"),
    ("icl-book train linreg --profile huge", "does not parse"),
    ("icl-book train linreg --profile smoke --help", "asks for help"),
    ("rm -rf ~", "not an icl-book train command"),
])
def test_retrain_and_import_refuse_a_command_that_does_not_remake_its_artifact(tmp_store, tmp_path, capsys,
                                                                                  monkeypatch, command, why):
    import icl_book.experiments as experiments

    monkeypatch.setattr(experiments, "train_seeds", lambda *a, **k: pytest.fail("retrained on an edited command"))
    saved(tmp_store, "linreg-smoke", command=command)
    before = tmp_store.manifest_path.read_bytes()
    assert main(["retrain", "linreg-smoke", "--run-dir", str(tmp_path / "runs")]) == 3
    err = one_line_error(capsys)
    assert "which is refused" in err and why in err, err
    assert tmp_store.manifest_path.read_bytes() == before
    dest = tmp_path / "dest"
    assert main(["import", str(tmp_store.root), "linreg-smoke", "--store", str(dest)]) == 3
    assert why in one_line_error(capsys) and not dest.exists()


def test_an_entry_whose_experiment_disagrees_with_its_command_is_refused(tmp_store, capsys):
    tmp_store.save("linreg-smoke", results={}, provenance={"experiment": "ginc-4l", "profile": "smoke",
                                                           "command": "icl-book train linreg --profile smoke"})
    assert main(["import", str(tmp_store.root), "linreg-smoke", "--store", str(tmp_store.root.parent / "d")]) == 3
    assert "the entry says experiment 'ginc-4l'" in one_line_error(capsys)


# ---- a damaged store is not a clean scorecard -------------------------------------------------

def test_claims_on_a_damaged_store_exits_3_naming_the_file(shipped_copy, capsys):
    path = shipped_copy.path("linreg-cpu", "results.json")
    path.write_text(path.read_text().replace("0", "1", 1))
    assert main(["claims"]) == 3
    assert "linreg-cpu/results.json is corrupt" in one_line_error(capsys)
    shipped_copy.manifest_path.write_text("{not json")
    assert main(["claims", "--json"]) == 3
    assert "is not valid JSON" in one_line_error(capsys)


def test_claims_on_a_store_without_an_artifact_says_not_run(shipped_copy, capsys):
    manifest = json.loads(shipped_copy.manifest_path.read_text())
    del manifest["linreg-cpu"]
    shipped_copy.manifest_path.write_text(json.dumps(manifest))
    (shipped_copy.root / "linreg-cpu" / "results.json").unlink()
    (shipped_copy.root / "linreg-cpu" / "weights.safetensors").unlink()
    assert main(["claims", "--json"]) == 0
    rows = {c["source"]: c["verdict"] for c in json.loads(capsys.readouterr().out)}
    assert rows["linreg-cpu"] == "not run"


# ---- the smaller items -----------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--seeds", str(2**64)], ["--set", f"seed={2**70}"]])
def test_a_seed_beyond_64_bits_is_one_line(tmp_path, capsys, args):
    assert main(["train", "linreg", "--profile", "smoke", "--run-dir", str(tmp_path), *args]) == 2
    assert "2**63 - 1" in one_line_error(capsys)
