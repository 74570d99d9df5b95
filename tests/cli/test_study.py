"""`sertk study` end to end on a tiny wav corpus: a neural system (base7, 8 units, one epoch),
eGeMAPS-SVM and an SSL system on a tiny random local encoder, three lospk folds. The table
holds each system's own numbers and `compare`'s statistics; a re-run trains nothing; a
system that fails is marked while the others run; a bad study is refused before training."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import sertk.train.study as study_module
from sertk.cli import main
from sertk.data.manifest import write_manifest
from sertk.eval.compare import compare_runs, load_run
from tests.ssl_encoders import write_tiny_encoder
from tests.train.synthetic import write_wav_corpus

BOOT = 200
STUDY = """\
reference: neural
systems:
  - name: neural
    model: base7
    set: [model_args.hidden=8]
  - {name: svm, model: egemaps-svm}
  - name: wavlm
    model: ssl-linear
    set: [model_args.hidden=16]
"""


def _args(root, out, *extra):
    return [str(root / "study.yaml"), "--manifest", str(root / "manifest.csv"),
            "--protocol", "lospk", "--padding", "batch", "--epochs", "1", "--batch-size", "4",
            "--lr", "0.01", "--threads", "1", "--no-progress", "--boot", str(BOOT),
            "--cache-dir", str(root / "cache"), "-o", str(out), *extra]


def _study(root, out, *extra):
    encoder = f"wavlm=model_args.encoder={root / 'encoder'}"
    return main(["study", *_args(root, out, "--system", encoder, *extra)])


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    write_manifest(write_wav_corpus(root / "audio"), root / "manifest.csv")
    write_tiny_encoder(root / "encoder")
    (root / "study.yaml").write_text(STUDY)
    return root


@pytest.fixture(scope="module")
def study(root):
    """The finished study (run once for the module)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SERTK_CACHE", str(root / "elsewhere"))  # --cache-dir must win for every system
    mp.setenv("HF_HUB_OFFLINE", "1")
    try:
        out = root / "out"
        assert _study(root, out) == 0
        yield out
    finally:
        mp.undo()


def _table(out):
    return json.loads((out / "comparison.json").read_text())


def test_one_row_per_system_with_each_runs_own_numbers(study):
    table = _table(study)
    assert [r["name"] for r in table["systems"]] == ["neural", "svm", "wavlm"]
    assert [r["model"] for r in table["systems"]] == ["base7", "egemaps-svm", "ssl-linear"]
    markdown = (study / "comparison.md").read_text()
    for row in table["systems"]:
        assert row["status"] == "ok" and row["complete"] and row["n_folds"] == 3
        own = json.loads((study / row["name"] / "metrics.json").read_text())
        for part in ("mean", "std", "pooled"):
            for key in ("wa", "ua"):
                assert row[part][key] == own[part][key]
        cell = f"{100 * own['mean']['ua']:.2f} ± {100 * own['std']['ua']:.2f}"
        assert f"| {row['name']}" in markdown and cell in markdown
        assert f"{100 * own['pooled']['ua']:.2f}" in markdown
        config = json.loads((study / row["name"] / "config.json").read_text())
        assert config["model"]["name"] == row["model"]
        assert config["protocol"]["name"] == "lospk"
    # one feature cache, --cache-dir's, for every system: log-mels, eGeMAPS, SSL states
    assert list((study.parent / "cache").glob("egemaps-*/*"))
    assert list((study.parent / "cache" / "ssl").glob("*/shard-*.json"))
    assert not (study.parent / "elsewhere").exists()
    # same folds: every run tests the same utterances in the same folds
    plans = [json.loads((study / n / "run.json").read_text())["folds"]
             for n in ("neural", "svm", "wavlm")]
    assert plans[0] == plans[1] == plans[2]


def test_paired_statistics_are_compares(study):
    table = _table(study)
    reference = load_run(study / "neural", "neural")
    rows = {r["name"]: r for r in table["systems"]}
    assert table["reference"] == "neural" and rows["neural"]["vs_reference"] is None
    for name in ("svm", "wavlm"):  # as `sertk compare OUT/neural OUT/<name>` gives them
        comparison, = compare_runs([reference, load_run(study / name, name)], n_boot=BOOT)
        got = rows[comparison.system]["vs_reference"]
        assert got == {"mean_diff": comparison.mean_diff, "wilcoxon_p": comparison.wilcoxon_p,
                       "pooled_diff": comparison.pooled_diff, "ci_low": comparison.ci_low,
                       "ci_high": comparison.ci_high, "wins": comparison.wins,
                       "losses": comparison.losses}  # JSON keeps floats exactly


def test_reference_flag_changes_the_baseline(study, root, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(study, out)
    monkeypatch.setattr(study_module, "cross_validate", _no_training)
    assert _study(root, out, "--reference", "svm") == 0
    rows = {r["name"]: r for r in _table(out)["systems"]}
    assert rows["svm"]["vs_reference"] is None
    runs = [load_run(out / n, n) for n in ("svm", "neural", "wavlm")]
    assert rows["wavlm"]["vs_reference"]["pooled_diff"] == pytest.approx(
        compare_runs(runs, n_boot=BOOT)[1].pooled_diff)


def _no_training(config, utterances, run_dir, **kwargs):
    raise AssertionError(f"{run_dir} trained again")


def test_rerun_skips_finished_systems(study, root, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    shutil.copytree(study, out)
    before = _table(study)
    monkeypatch.setattr(study_module, "cross_validate", _no_training)
    assert _study(root, out) == 0
    after = _table(out)
    for row in before["systems"] + after["systems"]:
        row.pop("run")  # the copy's folder
    assert after == before
    assert "| neural (reference)" in capsys.readouterr().out


def test_a_failed_system_is_marked_and_the_others_still_run(study, root, tmp_path,
                                                             monkeypatch, capsys):
    out = tmp_path / "out"
    shutil.copytree(study, out)
    real = study_module.cross_validate
    trained = []

    def broken(config, utterances, run_dir, **kwargs):
        trained.append(run_dir.name)
        if run_dir.name == "broken":
            raise RuntimeError("CUDA out of memory\nTried to allocate 2 GiB")
        return real(config, utterances, run_dir, **kwargs)

    monkeypatch.setattr(study_module, "cross_validate", broken)
    code = _study(root, out, "--system", "broken=base7 model_args.hidden=8",
                  "--system", "svm2=egemaps-svm")
    assert code == 1
    assert trained == ["broken", "svm2"]  # finished systems skipped, svm2 ran after the failure
    rows = {r["name"]: r for r in _table(out)["systems"]}
    assert rows["broken"]["status"] == "failed"
    assert rows["broken"]["error"] == "RuntimeError: CUDA out of memory"
    assert rows["svm2"]["status"] == "ok"
    assert rows["svm2"]["vs_reference"]["pooled_diff"] == pytest.approx(
        rows["svm2"]["pooled"]["ua"] * 100 - rows["neural"]["pooled"]["ua"] * 100)
    assert "**failed**: RuntimeError: CUDA out of memory" in (out / "comparison.md").read_text()
    assert "system broken failed: RuntimeError: CUDA out of memory" in capsys.readouterr().err


def test_a_failed_reference_leaves_the_others_rows_without_statistics(study, root, tmp_path,
                                                                      monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(study, out)

    def broken(config, utterances, run_dir, **kwargs):
        raise OSError(28, "No space left on device", str(run_dir / "fold-00"))

    monkeypatch.setattr(study_module, "cross_validate", broken)
    assert _study(root, out, "--system", "first=base7", "--reference", "first") == 1
    table = _table(out)
    rows = {r["name"]: r for r in table["systems"]}
    where = out / "first" / "fold-00"
    assert rows["first"]["error"] == f"OSError: {where}: No space left on device"
    assert all(r["vs_reference"] is None for r in rows.values())
    assert rows["svm"]["status"] == "ok"  # still reported, from its finished run
    assert table["comparison_note"] == "No paired statistics: the reference first failed."


BAD_STUDIES = {
    "unknown system key": ("systems:\n  - {name: a, modle: base7}\n", "unknown key 'modle'"),
    "unknown study key": ("sytems: []\n", "unknown key 'sytems'"),
    "unknown model": ("systems:\n  - {name: a, model: base9}\n",
                      "system 'a': model: unknown model 'base9'"),
    "duplicate name": ("systems:\n  - {name: a, model: base7}\n  - {name: a, model: base6}\n",
                       "system name 'a' appears twice"),
    "missing recipe": ("systems:\n  - {name: a, config: nothere.yaml}\n",
                       "system 'a': recipe file"),
    "bad recipe key": ("systems:\n  - {name: a, model: base7, set: [epoch=3]}\n",
                       "system 'a': config: unknown key 'epoch'"),
    "protocol per system": ("systems:\n  - {name: a, model: base7, set: [protocol=kfold]}\n",
                            "system 'a': set protocol"),
    "bad name": ("systems:\n  - {name: ../a, model: base7}\n", "name must be"),
    "unknown reference": ("reference: b\nsystems:\n  - {name: a, model: base7}\n",
                          "reference 'b' is not a system"),
    "ssl without encoder": ("systems:\n  - {name: a, model: ssl-linear}\n",
                            "system 'a': model_args {} for 'ssl-linear': an SSL model needs an "
                            "encoder"),
}


@pytest.mark.parametrize("case", sorted(BAD_STUDIES))
def test_a_bad_study_is_refused_in_one_line_before_training(case, root, tmp_path, monkeypatch,
                                                            capsys):
    text, message = BAD_STUDIES[case]
    (tmp_path / "study.yaml").write_text(text)
    monkeypatch.setattr(study_module, "cross_validate", _no_training)
    out = tmp_path / "out"
    args = _args(root, out)
    args[0] = str(tmp_path / "study.yaml")
    assert main(["study", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sertk study: error: ") and err.count("\n") == 1
    assert message in err
    assert not out.exists()


BAD_FLAGS = {
    "no spec": (["--system", "a"], "expected NAME=MODEL"),
    "two models": (["--system", "a=base7 base6"], "more than one recipe file or model"),
    "missing recipe": (["--system", "a=nothere.yaml"], "recipe file"),
    "bad name": (["--system", "=base7"], "name must be"),
    "seed per system": (["--system", "a=base7 seed=3"], "set seed: the protocol keys"),
    "model for all": (["--system", "a=base7", "--set", "model=base6"], "set model=..."),
    "no systems": ([], "no systems"),
    "bad boot": (["--system", "a=base7", "--boot", "0"], "--boot must be >= 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_bad_system_flags_are_refused_in_one_line(case, root, tmp_path, monkeypatch, capsys):
    flags, message = BAD_FLAGS[case]
    monkeypatch.setattr(study_module, "cross_validate", _no_training)
    out = tmp_path / "out"
    assert main(["study", *_args(root, out)[1:], *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sertk study: error: ") and err.count("\n") == 1
    assert message in err
    assert not out.exists()


def test_the_example_study_resolves(root):
    """configs/studies/table2-plus-peers.yaml: Table 2's models, egemaps-svm and an SSL
    system whose encoder is given with --system."""
    from sertk.train.recipe import check_recipe
    from sertk.train.studyspec import read_study, resolve_systems, with_system_flags
    from tests.train.synthetic import synthetic_corpus
    configs_dir = Path(__file__).resolve().parents[2] / "configs"
    spec = read_study(configs_dir / "studies" / "table2-plus-peers.yaml")
    spec = with_system_flags(spec, [f"wavlm=model_args.encoder={root / 'encoder'}"])
    configs = resolve_systems(spec, values={"manifest": "x.csv", "protocol": "lospk"})
    assert [c.model.name for c in configs.values()] == [
        "proposed", "base1", "base2", "base3", "base4", "base5", "base6", "base7",
        "egemaps-svm", "ssl-linear"]
    assert {c.protocol.name for c in configs.values()} == {"lospk"}
    assert configs["wavlm"].model.args["encoder"] == str(root / "encoder")
    assert configs["proposed"].features.padding == "fixed"
    assert configs["wavlm"].features.padding == "batch"
    utterances, _ = synthetic_corpus()
    for config in configs.values():  # every recipe trains (models built on the meta device)
        check_recipe(config, utterances)
