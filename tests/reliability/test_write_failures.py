"""A full disk or an output that cannot be created: one clear line, nothing that looks complete.

Root ignores read-only permissions (and CI often runs as root), so "cannot be created" is a
path under a regular file or under ``/dev/null`` (NotADirectoryError), and the full disk is
:class:`~tests.reliability.full_disk.FullDisk`, which makes ``write()`` fail with ENOSPC
part-way through a file. Covered: ``sertk prepare -o``, ``sertk predict --out``, ``sertk cv
-o`` / ``--cache-dir``, ``save_checkpoint``, the feature cache and ``download_corpus``.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import sertk.cli.predict as predict_cli
from sertk.cli import main
from sertk.data.cache import FeatureCache
from sertk.data.download import CorpusSpec, DownloadError, download_corpus
from sertk.data.manifest import read_manifest
from sertk.models import CheckpointError, create_model, load_checkpoint, save_checkpoint
from sertk.features import FeatureConfig
from tests.data.archives import corpus_members, zip_bytes
from tests.data.bad_audio import write_bad, write_wav
from tests.reliability.conftest import TINY_CV
from tests.reliability.full_disk import ENOSPC_TEXT, FullDisk, files_under, temporary_files


def _blocked(tmp_path: Path, name: str) -> tuple[Path, str]:
    """An output path that cannot be created (a file stands where a folder must be)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("I am a file\n")
    return blocker / "sub" / name, f"{blocker} is a file, not a folder"


UNWRITABLE = ["under-a-file", "under-dev-null"]


def _unwritable(kind: str, tmp_path: Path, name: str) -> tuple[Path, str]:
    if kind == "under-a-file":
        return _blocked(tmp_path, name)
    return Path("/dev/null/sertk") / name, "/dev/null is a file, not a folder"


def _error_line(capsys, command: str) -> str:
    """The single ``sertk COMMAND: error: ...`` line on stderr (and no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"sertk {command}: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def _assert_whole_files(root: Path) -> None:
    """Nothing under ``root`` is a torn file: no temporaries, every JSON and CSV parses."""
    assert temporary_files(root) == []
    for path in files_under(root):
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".csv":
            with open(path, newline="") as fh:
                rows = list(csv.reader(fh))
            assert rows and all(len(r) == len(rows[0]) for r in rows), path


# --- sertk prepare -o -------------------------------------------------------------------------

@pytest.fixture
def folder_corpus(tmp_path):
    for label in ("happy", "sad"):
        for k in range(4):
            write_wav(tmp_path / "data" / label / f"{k}.wav")
    write_bad("not audio", tmp_path / "data" / "sad" / "zz.wav")
    return tmp_path / "data"


@pytest.mark.parametrize("kind", UNWRITABLE)
def test_prepare_into_a_place_that_cannot_be_created(folder_corpus, tmp_path, capsys, kind):
    out, reason = _unwritable(kind, tmp_path, "m.csv")
    assert main(["prepare", "folder", str(folder_corpus), "-o", str(out), "--skip-bad"]) == 1
    line = _error_line(capsys, "prepare")
    assert str(out) in line and reason in line
    assert not out.exists()


@pytest.mark.parametrize("budget", [0, 40, 300])  # cut inside the skipped list or the manifest
def test_prepare_on_a_full_disk(folder_corpus, tmp_path, capsys, monkeypatch, budget):
    out = tmp_path / "out" / "m.csv"
    disk = FullDisk(tmp_path / "out", budget).install(monkeypatch)
    assert main(["prepare", "folder", str(folder_corpus), "-o", str(out), "--skip-bad"]) == 1
    assert disk.failures == 1
    line = _error_line(capsys, "prepare")
    assert ENOSPC_TEXT in line and str(tmp_path / "out") in line
    assert not out.exists()  # no manifest that looks complete
    _assert_whole_files(tmp_path / "out")

    disk.budget = None  # space freed: the same command succeeds
    assert main(["prepare", "folder", str(folder_corpus), "-o", str(out), "--skip-bad"]) == 0
    assert len(read_manifest(out)) == 8
    _assert_whole_files(tmp_path / "out")


# --- sertk predict --out ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", UNWRITABLE)
def test_predict_refuses_an_unwritable_out_before_predicting(checkpoint, clips, tmp_path,
                                                             capsys, monkeypatch, kind):
    out, reason = _unwritable(kind, tmp_path, "preds.csv")

    def no_model(*args, **kwargs):
        raise AssertionError("the output must be checked before the model is even loaded")

    monkeypatch.setattr(predict_cli, "load_model", no_model)
    code = main(["predict", *map(str, clips), "--model", str(checkpoint), "--out", str(out),
                 "--no-progress"])
    assert code == 2
    line = _error_line(capsys, "predict")
    assert str(out) in line and reason in line


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_predict_on_a_full_disk_leaves_no_table(checkpoint, clips, tmp_path, capsys,
                                                monkeypatch, suffix):
    out = tmp_path / "out" / f"preds{suffix}"
    disk = FullDisk(tmp_path / "out", budget=150).install(monkeypatch)
    code = main(["predict", *map(str, clips), "--model", str(checkpoint), "--out", str(out),
                 "--no-progress"])
    assert code == 1 and disk.failures == 1
    line = _error_line(capsys, "predict")
    assert str(out) in line and ENOSPC_TEXT in line
    assert not out.exists()
    _assert_whole_files(tmp_path / "out")


# --- sertk cv -o / --cache-dir ----------------------------------------------------------------

def test_cv_into_places_that_cannot_be_created(wav_corpus, tmp_path, capsys):
    _, manifest = wav_corpus
    out, reason = _blocked(tmp_path, "run")
    base = ["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "1"]
    assert main([*base, "--cache-dir", str(tmp_path / "cache"), "-o", str(out)]) == 1
    line = _error_line(capsys, "cv")
    assert str(out) in line and reason in line
    assert main([*base, "--cache-dir", str(out.parent / "cache"), "-o",
                 str(tmp_path / "run")]) == 1
    line = _error_line(capsys, "cv")
    assert str(out.parent / "cache") in line and reason in line
    assert not (tmp_path / "run" / "fold-00" / "metrics.json").exists()


def _cut_points(disk: FullDisk, names: tuple[str, ...]) -> dict[str, int]:
    """For each file name, a budget that ends the disk half-way through its first write."""
    cuts, before = {}, 0
    for (path, total), (_, size) in zip(disk.cumulative(), disk.written):
        name = Path(path).name
        key = next((n for n in names if n in name), None)
        if key is not None and key not in cuts and size > 1:
            cuts[key] = before + size // 2
        before = total
    assert set(cuts) == set(names), (sorted(cuts), [Path(p).name for p, _ in disk.written])
    return cuts


def test_cv_on_a_full_disk_fails_cleanly_then_resumes_to_the_same_result(
        wav_corpus, tmp_path, capsys, monkeypatch):
    _, manifest = wav_corpus
    args = ["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "2",
            "--cache-dir", str(tmp_path / "cache")]
    counting = FullDisk(tmp_path / "whole", budget=None).install(monkeypatch)
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0
    reference = json.loads((tmp_path / "whole" / "fold-00" / "metrics.json").read_text())
    # half-way through: the recipe, the split, an epoch's history, the best model, the
    # resume state (written beside its final name, sertk.train.resume), the test outputs
    cuts = _cut_points(counting, ("config.json", "run.json", "history.csv", "weights-",
                                  "last.ckpt", "predictions.csv"))
    capsys.readouterr()

    for n, (name, budget) in enumerate(cuts.items()):
        # as long a name as "whole": the resume state holds its folder's path, so the bytes
        # before each cut are the same as in the counting run
        out = tmp_path / f"cut-{n}"
        disk = FullDisk(out, budget).install(monkeypatch)
        assert main([*args, "-o", str(out)]) == 1, name
        line = _error_line(capsys, "cv")
        assert ENOSPC_TEXT in line and str(out) in line, (name, line)
        assert not (out / "fold-00" / "metrics.json").exists()  # the fold is not complete
        _assert_whole_files(out)
        if (out / "fold-00" / "checkpoint" / "config.json").exists():
            load_checkpoint(out / "fold-00" / "checkpoint")

        disk.budget = None  # space freed: the same command finishes the run
        assert main([*args, "-o", str(out)]) == 0, name
        resumed = json.loads((out / "fold-00" / "metrics.json").read_text())
        assert {k: resumed[k] for k in ("wa", "ua", "confusion")} == {
            k: reference[k] for k in ("wa", "ua", "confusion")}, name


def _resume_writes(disk: FullDisk) -> list[tuple[int, int]]:
    """``(bytes written before, size)`` of every write of resume/last.ckpt's temporary file."""
    out, before = [], 0
    for (path, total), (_, size) in zip(disk.cumulative(), disk.written):
        if "last.ckpt" in Path(path).name:
            out.append((before, size))
        before = total
    return out


def test_a_full_disk_while_saving_resume_state_keeps_the_last_good_state(
        wav_corpus, tmp_path, capsys, monkeypatch):
    """The disk fills up while the second epoch's resume state is written: the first epoch's
    state stays whole under resume/last.ckpt, and the same command resumes from it."""
    import torch

    _, manifest = wav_corpus
    args = ["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "3",
            "--cache-dir", str(tmp_path / "cache")]
    counting = FullDisk(tmp_path / "whole", budget=None).install(monkeypatch)
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0
    reference = json.loads((tmp_path / "whole" / "fold-00" / "metrics.json").read_text())
    writes = _resume_writes(counting)
    assert len(writes) >= 2, writes  # one resume state per epoch
    before, size = writes[1]
    capsys.readouterr()

    out = tmp_path / "cut00"  # as long as "whole": the same bytes before the cut
    disk = FullDisk(out, before + size // 2).install(monkeypatch)
    assert main([*args, "-o", str(out)]) == 1
    line = _error_line(capsys, "cv")
    assert ENOSPC_TEXT in line and str(out / "fold-00" / "resume" / "last.ckpt") in line, line
    _assert_whole_files(out)
    state = torch.load(out / "fold-00" / "resume" / "last.ckpt", weights_only=True)
    assert state["epoch"] == 0  # the first epoch's state, whole

    disk.budget = None
    assert main([*args, "-o", str(out)]) == 0
    resumed = json.loads((out / "fold-00" / "metrics.json").read_text())
    assert {k: resumed[k] for k in ("wa", "ua", "confusion")} == {
        k: reference[k] for k in ("wa", "ua", "confusion")}


@pytest.mark.parametrize("torn", ["half", "empty", "garbage"])
def test_a_torn_resume_file_is_set_aside_and_the_same_command_finishes(
        wav_corpus, tmp_path, capsys, caplog, torn):
    """A resume file torn by a crash (as Lightning's own cross-filesystem move used to leave
    on a full disk) no longer stops the run: it is renamed with a notice, training restarts
    from the start of the fold and ends where an uninterrupted run ends."""
    _, manifest = wav_corpus
    args = ["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "2",
            "--cache-dir", str(tmp_path / "cache")]
    keep = ["--set", "keep_resume=true"]
    assert main([*args, *keep, "-o", str(tmp_path / "whole")]) == 0
    whole = tmp_path / "whole" / "fold-00"
    reference = json.loads((whole / "metrics.json").read_text())
    good = (whole / "resume" / "last.ckpt").read_bytes()

    out = tmp_path / "torn"
    resume = out / "fold-00" / "resume" / "last.ckpt"
    resume.parent.mkdir(parents=True)
    resume.write_bytes({"half": good[:len(good) // 2], "empty": b"",
                        "garbage": b"PK\x03\x04" + bytes(range(256)) * 8}[torn])
    caplog.clear()
    assert main([*args, "-o", str(out)]) == 0, capsys.readouterr().err
    assert "Traceback" not in capsys.readouterr().err
    notices = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert len(notices) == 1 and str(resume) in notices[0]
    assert (out / "fold-00" / "resume-set-aside.ckpt").is_file()
    resumed = json.loads((out / "fold-00" / "metrics.json").read_text())
    assert {k: resumed[k] for k in ("wa", "ua", "confusion")} == {
        k: reference[k] for k in ("wa", "ua", "confusion")}


# --- save_checkpoint ----------------------------------------------------------------------------

def _model(seed: int):
    torch.manual_seed(seed)
    return create_model("base7", n_classes=3, hidden=8).eval()


def _save(path: Path, model) -> Path:
    return save_checkpoint(path, model, model_name="base7", labels=["a", "b", "c"],
                           feature_config=FeatureConfig(), norm_mean=np.zeros(40),
                           norm_std=np.ones(40))


def _same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values()))


@pytest.mark.parametrize("where", ["weights start", "weights middle", "config"])
def test_save_checkpoint_on_a_full_disk_keeps_the_previous_one(tmp_path, monkeypatch, where):
    old, new = _model(0), _model(1)
    path = _save(tmp_path / "ckpt", old)
    weights_size = next(path.glob("weights-*")).stat().st_size
    budget = {"weights start": 0, "weights middle": weights_size // 2,
              "config": weights_size + 10}[where]
    disk = FullDisk(path, budget).install(monkeypatch)
    with pytest.raises(OSError) as err:
        _save(path, new)
    assert ENOSPC_TEXT in str(err.value) and str(path) in str(err.value)
    assert _same_weights(load_checkpoint(path).model, old)
    assert temporary_files(path) == []

    disk.budget = None
    _save(path, new)
    assert _same_weights(load_checkpoint(path).model, new)
    assert len(list(path.glob("weights-*"))) == 1


def test_save_checkpoint_where_no_folder_can_be_made(tmp_path):
    out, reason = _blocked(tmp_path, "ckpt")
    with pytest.raises(CheckpointError) as err:
        _save(out, _model(0))
    assert str(out) in str(err.value) and reason in str(err.value)


# --- the feature cache ------------------------------------------------------------------------

def test_feature_cache_on_a_full_disk(wav_corpus, tmp_path, monkeypatch):
    utterances, _ = wav_corpus
    root = tmp_path / "cache"
    FeatureCache(root).build(utterances[:1], progress=False)  # config.json and one entry
    entry_size = next(root.rglob("*.npy")).stat().st_size
    disk = FullDisk(root, budget=int(2.5 * entry_size)).install(monkeypatch)
    cache = FeatureCache(root)
    with pytest.raises(OSError) as err:
        cache.build(utterances, progress=False, batch_size=4)
    assert ENOSPC_TEXT in str(err.value) and str(root) in str(err.value)
    assert temporary_files(root) == []
    entries = list(root.rglob("*.npy"))
    assert len(entries) == 3  # the first entry and the two that fitted; none torn
    for entry in entries:
        feats = np.load(entry, allow_pickle=False)
        assert feats.dtype == np.float16 and feats.shape[0] == 40 and np.isfinite(feats).all()

    disk.budget = None
    report = cache.build(utterances, progress=False, batch_size=4)
    assert report.ok and report.reused == 3 and report.computed == len(utterances) - 3


def test_feature_cache_root_that_cannot_be_created(wav_corpus, tmp_path):
    utterances, _ = wav_corpus
    root, reason = _blocked(tmp_path, "cache")
    for action in (lambda c: c.build(utterances[:2], progress=False),
                   lambda c: c.get(utterances[0])):
        with pytest.raises(OSError) as err:
            action(FeatureCache(root))
        assert isinstance(err.value, NotADirectoryError) and str(root) in str(err.value.filename)


# --- download_corpus --------------------------------------------------------------------------

def test_download_on_a_full_disk_extracts_nothing(tmp_path, monkeypatch):
    archive = tmp_path / "corpus.zip"
    archive.write_bytes(zip_bytes(corpus_members(3)))
    dest = tmp_path / "parent" / "emodb"
    spec = CorpusSpec(name="tiny", url=archive.as_uri(), audio_dir="wav", expected_files=3)
    FullDisk(tmp_path / "parent", budget=50).install(monkeypatch)
    with pytest.raises(DownloadError) as err:
        download_corpus(spec, dest, progress=False)
    assert archive.as_uri() in str(err.value) and ENOSPC_TEXT in str(err.value)
    assert "nothing was extracted" in str(err.value)
    assert not dest.exists() and list((tmp_path / "parent").iterdir()) == []
