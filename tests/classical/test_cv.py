"""Classical cross-validation writes a run that reads like a neural one."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sertk.classical.cv import corpus_vectors, run_linear_fold
from sertk.classical.functionals import FunctionalsExtractor
from sertk.classical.linear import LinearConfig, fit_linear, load_linear
from sertk.data.emodb import prepare_emodb
from sertk.data.manifest import label_names
from sertk.data.splits import make_folds
from sertk.eval.report import aggregate_run
from sertk.eval.rundir import init_run


@pytest.fixture(scope="module")
def small_emodb(emodb_dir):
    """Two clips per emotion of four EmoDB-2s speakers (about 50 utterances)."""
    corpus = prepare_emodb(emodb_dir, decode=False)
    utts = [u for u in corpus if u.speaker in ("03", "08", "09", "10")]
    seen: dict = {}
    keep = []
    for u in utts:
        key = (u.speaker, u.label)
        if seen.get(key, 0) < 2:
            keep.append(u)
            seen[key] = seen.get(key, 0) + 1
    return keep


@pytest.fixture(scope="module")
def extractor(tmp_path_factory):
    """One cache for the module, so each clip is analysed once."""
    return FunctionalsExtractor(cache_root=tmp_path_factory.mktemp("egemaps"))


@pytest.fixture
def manifest(small_emodb, extractor, tmp_path, monkeypatch):
    """``small_emodb`` as a manifest file, with the module's functionals cache as the cache."""
    from sertk.data.manifest import write_manifest

    monkeypatch.setenv("SERTK_CACHE", str(extractor.cache.parent))
    path = tmp_path / "small.csv"
    write_manifest(small_emodb, path)
    return path


@pytest.mark.parametrize("normalisation", ["fold", "speaker"])
def test_lospk_run_has_folds_checkpoints_and_a_report(small_emodb, tmp_path, normalisation,
                                                      extractor):
    folds = make_folds(small_emodb, "lospk")
    labels = label_names(small_emodb)
    run = tmp_path / "run"
    init_run(run, folds, labels, protocol="lospk", info={"model": "egemaps-svm"})
    config = LinearConfig(normalisation=normalisation)
    vectors = corpus_vectors(small_emodb, config, extractor)
    for fold in folds:
        run_linear_fold(fold, small_emodb, vectors, labels, run, config)
    metrics = aggregate_run(run, plots=False)
    assert metrics["complete"] and len(metrics["folds"]) == 4
    assert 0.0 <= metrics["pooled"]["ua"] <= 1.0
    for fold in folds:
        fold_metrics = json.loads((run / f"fold-{fold.index:02d}" / "metrics.json").read_text())
        assert fold_metrics["info"]["c"] in config.c_grid
        assert fold_metrics["info"]["normalisation"] == normalisation
        model = load_linear(run / f"fold-{fold.index:02d}" / "checkpoint")
        assert model.labels == labels


def test_speaker_normalisation_needs_speakers(small_emodb, extractor):
    from dataclasses import replace

    utts = [replace(u, speaker="") if i == 0 else u for i, u in enumerate(small_emodb)]
    with pytest.raises(ValueError, match="speaker"):
        corpus_vectors(utts, LinearConfig(normalisation="speaker"),
                       extractor)


def test_speaker_normalised_vectors_have_zero_mean_per_speaker(small_emodb, extractor):
    vectors = corpus_vectors(small_emodb, LinearConfig(normalisation="speaker"),
                             extractor)
    for speaker in ("03", "08"):
        rows = np.stack([vectors[u.id] for u in small_emodb if u.speaker == speaker])
        np.testing.assert_allclose(rows.mean(axis=0), 0.0, atol=1e-6)


def test_sertk_cv_runs_the_classical_peer(small_emodb, manifest, tmp_path, capsys):
    from dataclasses import replace

    from sertk.cli import main
    from sertk.data.manifest import write_manifest

    out = tmp_path / "run"
    assert main(["cv", "--model", "egemaps-svm", "--manifest", str(manifest), "--protocol",
                 "lospk", "--set", "normalisation=speaker", "-o", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "egemaps-svm, lospk" in report and "each speaker's own statistics" in report
    assert json.loads((out / "run.json").read_text())["info"]["normalisation"] == "speaker"
    capsys.readouterr()
    # speaker normalisation without speakers, and utterance normalisation, are refused
    anonymous = tmp_path / "anonymous.csv"
    write_manifest([replace(u, speaker="", session="") for u in small_emodb], anonymous)
    assert main(["cv", "--model", "egemaps-svm", "--manifest", str(anonymous), "--protocol",
                 "kfold", "--set", "normalisation=speaker", "-o", str(tmp_path / "x")]) == 2
    assert "needs a speaker" in capsys.readouterr().err
    assert main(["cv", "--model", "egemaps-logreg", "--manifest", str(manifest), "--set",
                 "normalisation=utterance", "-o", str(tmp_path / "y")]) == 2
    assert "does not apply" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_compare_svm_runs_on_the_larger_set_and_saves_it(small_emodb, tmp_path, monkeypatch):
    from sertk.cli import main
    from sertk.data.manifest import write_manifest

    monkeypatch.setenv("SERTK_CACHE", str(tmp_path / "cache"))
    manifest = tmp_path / "small.csv"
    write_manifest(small_emodb, manifest)
    out = tmp_path / "run"
    assert main(["cv", "--model", "compare-svm", "--manifest", str(manifest), "--protocol",
                 "lospk", "--set", "folds=1", "-o", str(out)]) == 0
    model = load_linear(out / "fold-00" / "checkpoint")
    assert model.config.feature_set == "compare" and model.config.classifier == "svm"
    assert model.mean.shape == (6373,) and model.weight.shape == (len(model.labels), 6373)
    assert list((tmp_path / "cache").glob("compare-2016-*/*"))  # its own cache folder
    assert not list((tmp_path / "cache").glob("egemaps-*"))


def test_a_model_saved_before_feature_sets_and_temperatures_loads_as_before(small_emodb, extractor, tmp_path):
    vectors = corpus_vectors(small_emodb, LinearConfig(), extractor)
    x = np.stack([vectors[u.id] for u in small_emodb])
    model = fit_linear(x, [u.label for u in small_emodb], label_names(small_emodb))
    model.save(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["config"]["feature_set"], saved["temperature"]  # earlier sertk versions' layout
    (tmp_path / "config.json").write_text(json.dumps(saved))
    old = load_linear(tmp_path)
    assert old.config.feature_set == "egemaps" and old.temperature == 1.0


def test_train_a_final_classical_model_then_predict_files_with_it(small_emodb, extractor,
                                                                 manifest, tmp_path, capsys):
    import csv

    from sertk.cli import main

    out = tmp_path / "model"
    assert main(["train", "--model", "egemaps-svm", "--manifest", str(manifest), "--set",
                 "val_fraction=0.3", "-o", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    model = load_linear(out / "checkpoint")
    assert model.labels == label_names(small_emodb) and summary["c"] == model.c
    assert summary["train"] + summary["val"] == len(small_emodb) and summary["val"] >= 7
    assert (out / "config.yaml").is_file()

    clips = [u.path for u in small_emodb[:3]]
    table = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(out / "checkpoint"), *clips,
                 str(tmp_path / "missing.wav"), "--no-vad", "--out", str(table)]) == 1
    rows = list(csv.DictReader(table.open()))
    assert [r["path"] for r in rows] == [*clips, str(tmp_path / "missing.wav")]
    # the CLI's answer is the model's own decision on the clips' functionals
    assert [r["label"] for r in rows[:3]] == model.predict(extractor.of_files(clips)[0])
    assert rows[3]["label"] == "" and "not found" in rows[3]["error"]
    capsys.readouterr()
    for flag in ("--segment=1", "--int8", "--bf16"):  # neural-only options: a usage error
        assert main(["predict", "--model", str(out / "checkpoint"), clips[0], flag]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "classical model" in err[0] and flag.split("=")[0] in err[0]


def test_a_speaker_normalised_classical_model_needs_two_recordings(small_emodb, extractor,
                                                                   tmp_path):
    from sertk.infer.linear import LinearPredictor, is_linear_model

    vectors = corpus_vectors(small_emodb, LinearConfig(normalisation="speaker"), extractor)
    x = np.stack([vectors[u.id] for u in small_emodb])
    model = fit_linear(x, [u.label for u in small_emodb], label_names(small_emodb),
                       LinearConfig(normalisation="speaker"))
    model.save(tmp_path / "spk")
    assert is_linear_model(tmp_path / "spk") and not is_linear_model(tmp_path)
    predictor = LinearPredictor(tmp_path / "spk", vad=None)
    (one,) = predictor.predict_files([small_emodb[0].path])
    assert not one.ok and "at least two recordings" in one.error
    same_speaker = [u.path for u in small_emodb if u.speaker == small_emodb[0].speaker]
    results = predictor.predict_files(same_speaker)
    assert all(r.ok for r in results)
    expected = model.predict(np.stack([vectors[u.id] for u in small_emodb
                                       if u.speaker == small_emodb[0].speaker]))
    assert [r.prediction.label for r in results] == expected


def test_model_args_set_the_classical_model_and_bad_ones_are_refused():
    from sertk.train.config import ConfigError, TrainConfig
    from sertk.train.recipe import linear_config

    config = TrainConfig.of(model="compare-logreg", model_args={"c_grid": [0.001, 0.1],
                                                                "max_iter": 50})
    linear = linear_config(config)
    assert (linear.classifier, linear.feature_set) == ("logreg", "compare")
    assert linear.c_grid == (0.001, 0.1) and linear.max_iter == 50
    assert linear_config(TrainConfig.of(model="egemaps-svm",
                                        model_args={"c_grid": 0.01})).c_grid == (0.01,)
    for args, reason in [({"hidden": 64}, "takes only c_grid"), ({"c_grid": [0, 1]}, "positive"),
                         ({"c_grid": ["x"]}, "egemaps-svm"), ({"max_iter": 0}, "max_iter"),
                         ({"class_weight": "even"}, "class_weight")]:
        with pytest.raises(ConfigError, match=reason):
            linear_config(TrainConfig.of(model="egemaps-svm", model_args=args))


def test_a_fixed_c_is_used_and_a_bad_model_arg_stops_cv_before_any_work(manifest, tmp_path,
                                                                         capsys):
    from sertk.cli import main

    out = tmp_path / "run"
    assert main(["cv", "--model", "egemaps-logreg", "--manifest", str(manifest), "--protocol",
                 "lospk", "--set", "folds=2", "--set", "model_args.c_grid=[0.001]",
                 "-o", str(out)]) == 0
    for fold in ("fold-00", "fold-01"):
        assert load_linear(out / fold / "checkpoint").c == 0.001
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["cv", "--model", "egemaps-svm", "--manifest", str(manifest), "--set",
                 "model_args.hiden=3", "-o", str(bad)]) == 2
    assert "model_args hiden: egemaps-svm takes only" in capsys.readouterr().err
    assert not bad.exists()


def test_a_final_classical_model_can_choose_c_on_a_held_out_speaker(small_emodb, manifest,
                                                                   tmp_path, capsys):
    from sertk.cli import main

    out = tmp_path / "model"
    assert main(["train", "--model", "egemaps-logreg", "--manifest", str(manifest), "--set",
                 "final_val=speakers", "-o", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    per_speaker = {s: sum(u.speaker == s for u in small_emodb) for s in ("03", "08", "09", "10")}
    assert summary["val"] in per_speaker.values()
    assert summary["train"] == len(small_emodb) - summary["val"]
    assert load_linear(out / "checkpoint").c == summary["c"]
