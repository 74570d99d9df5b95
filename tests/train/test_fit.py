"""One split: outputs, validation-only model selection, leakage checks, repeatability, resume."""
from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from sertk.data.splits import Fold, LeakageError, check_fold, make_folds
from sertk.features import feature_stats
from sertk.models import load_checkpoint
from sertk.train import callbacks as callbacks_module
from sertk.train.config import ConfigError
from sertk.train.fitting import CHECKPOINT_DIR, RESULT_FILE, fit
from sertk.train.folds import final_split


def _history(directory):
    with open(directory / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _weights(directory):
    return json.loads((directory / CHECKPOINT_DIR / "config.json").read_text())["weights_sha256"]


def test_fit_writes_every_output_and_selects_on_validation(tiny, corpus, tmp_path):
    utts, feats = corpus
    result = fit(tiny.replace(max_epochs=4), utts, 1, out_dir=tmp_path / "run", features=feats)
    d = tmp_path / "run" / "fold-01"
    assert result.directory == d and result.fold.name == "speaker=s2"
    for name in ("history.csv", "curves.png", "predictions.csv", "metrics.json", RESULT_FILE,
                 "checkpoint/config.json"):
        assert (d / name).is_file(), name
    assert not (d / "resume").exists()  # removed once the fold is done
    rows = _history(d)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4] and result.epochs == 4
    # the kept model is the epoch with the best validation UA (ties: lower validation loss)
    key = [(float(r["val_ua"]), -float(r["val_loss"])) for r in rows]
    assert result.best_epoch == 1 + key.index(max(key))
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint.metadata["epoch"] == result.best_epoch
    assert checkpoint.metadata["val_ua"] == pytest.approx(result.best_val_ua)
    assert checkpoint.labels == ["ang", "hap", "neu", "sad"]
    assert checkpoint.feature_config.padding == "batch"
    # normalisation statistics come from the training part only
    mean, std = feature_stats([feats[i] for i in result.fold.train_ids])
    assert np.allclose(checkpoint.norm_mean, mean) and np.allclose(checkpoint.norm_std, std)
    metrics = result.metrics
    assert metrics["n"] == len(result.fold.test_ids) == 12 and 0 <= metrics["ua"] <= 1
    assert metrics["info"]["best_epoch"] == result.best_epoch
    assert metrics["info"]["params"] == result.params > 0
    assert (tmp_path / "run" / "config.yaml").is_file()


def test_the_test_part_cannot_influence_training_or_selection(tiny, corpus, tmp_path):
    utts, feats = corpus
    fold = make_folds(utts, "lospk")[0]
    poisoned = dict(feats)
    for i in fold.test_ids:
        poisoned[i] = feats[i] * -3.0 + 50.0
    a = fit(tiny, utts, fold, out_dir=tmp_path / "a", features=feats)
    b = fit(tiny, utts, fold, out_dir=tmp_path / "b", features=poisoned)
    assert _history(a.directory) and [
        {k: r[k] for k in ("train_loss", "val_loss", "val_ua")} for r in _history(a.directory)
    ] == [{k: r[k] for k in ("train_loss", "val_loss", "val_ua")} for r in _history(b.directory)]
    assert a.best_epoch == b.best_epoch
    assert _weights(a.directory) == _weights(b.directory)


def test_same_seed_same_numbers_other_seed_other_numbers(tiny, corpus, tmp_path):
    utts, feats = corpus
    runs = [fit(tiny.replace(seed=s), utts, 2, out_dir=tmp_path / f"r{n}", features=feats)
            for n, s in enumerate([7, 7, 8])]
    preds = [(r.directory / "predictions.csv").read_text() for r in runs]
    assert preds[0] == preds[1]
    assert _weights(runs[0].directory) == _weights(runs[1].directory)
    assert _weights(runs[0].directory) != _weights(runs[2].directory)


@pytest.mark.parametrize("batching", ["random", "bucketed"])
def test_resume_after_a_crash_matches_an_uninterrupted_run(tiny, corpus, tmp_path, monkeypatch,
                                                           batching):
    utts, feats = corpus
    config = tiny.replace(max_epochs=4, batching=batching)
    whole = fit(config, utts, 0, out_dir=tmp_path / "whole", features=feats)

    original = callbacks_module.History.on_train_epoch_end

    def crash_in_epoch_3(self, trainer, pl_module):
        if trainer.current_epoch == 2:
            raise RuntimeError("simulated crash")
        original(self, trainer, pl_module)

    monkeypatch.setattr(callbacks_module.History, "on_train_epoch_end", crash_in_epoch_3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(config, utts, 0, out_dir=tmp_path / "crashed", features=feats)
    d = tmp_path / "crashed" / "fold-00"
    assert (d / "resume" / "last.ckpt").is_file() and len(_history(d)) == 2
    state = torch.load(d / "resume" / "last.ckpt", weights_only=True)  # no pickled objects
    assert state["epoch"] == 1 and "optimizer_states" in state
    monkeypatch.setattr(callbacks_module.History, "on_train_epoch_end", original)
    resumed = fit(config, utts, 0, out_dir=tmp_path / "crashed", features=feats)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in _history(whole.directory)]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in _history(d)]
    assert (whole.directory / "predictions.csv").read_text() == (d / "predictions.csv").read_text()
    assert resumed.metrics["ua"] == whole.metrics["ua"]


def test_the_thread_count_is_saved_with_the_run_and_used_again(tiny, corpus, tmp_path,
                                                                 monkeypatch):
    utts, feats = corpus
    fit(tiny.replace(num_threads=0), utts, 0, out_dir=tmp_path, features=feats)
    recorded = json.loads((tmp_path / "config.json").read_text())["runtime"]["num_threads"]
    assert recorded == torch.get_num_threads() >= 1
    other = 1 if recorded != 1 else 2  # as if the run had begun on another machine
    saved = json.loads((tmp_path / "config.json").read_text())
    saved["runtime"]["num_threads"] = other
    (tmp_path / "config.json").write_text(json.dumps(saved))
    used = []
    original = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (used.append(n), original(n)))
    (tmp_path / "fold-00" / "metrics.json").unlink()
    (tmp_path / "fold-00" / "result.json").unlink()  # the fold trains again, resumed
    fit(tiny.replace(num_threads=0), utts, 0, out_dir=tmp_path, features=feats)
    assert used and used[0] == other


def test_the_progress_bar_counts_epochs_from_one_as_the_history_does(tiny, corpus, tmp_path,
                                                                      capsys):
    utts, feats = corpus
    result = fit(tiny.replace(progress_bar=True, max_epochs=2, patience=0), utts, 0,
                 out_dir=tmp_path, features=feats)
    bars = capsys.readouterr().err
    assert "Epoch 1/2" in bars and "Epoch 2/2" in bars and "Epoch 0" not in bars
    assert [int(r["epoch"]) for r in _history(result.directory)] == [1, 2]


def test_finished_folds_are_skipped_and_trained_folds_only_evaluated(tiny, corpus, tmp_path):
    utts, feats = corpus
    first = fit(tiny, utts, 0, out_dir=tmp_path, features=feats)
    again = fit(tiny, utts, 0, out_dir=tmp_path, features=feats)
    assert again.skipped and not first.skipped and again.metrics["ua"] == first.metrics["ua"]
    history = (first.directory / "history.csv").read_text()
    (first.directory / "metrics.json").unlink()  # trained, but the test outputs are lost
    third = fit(tiny, utts, 0, out_dir=tmp_path, features=feats)
    assert not third.skipped and (first.directory / "metrics.json").is_file()
    assert (first.directory / "history.csv").read_text() == history  # no retraining
    assert third.metrics["ua"] == first.metrics["ua"]


def test_a_changed_recipe_cannot_reuse_a_run_directory(tiny, corpus, tmp_path):
    utts, feats = corpus
    fit(tiny.replace(max_epochs=1), utts, 0, out_dir=tmp_path, features=feats)
    with pytest.raises(ConfigError, match="different recipe"):
        fit(tiny.replace(max_epochs=1, lr=0.5), utts, 0, out_dir=tmp_path, features=feats)


def test_leaky_folds_are_refused(tiny, corpus, tmp_path):
    utts, feats = corpus
    fold = make_folds(utts, "lospk")[0]
    leaky = Fold(0, "leaky", fold.train_ids + fold.test_ids[:1], fold.val_ids, fold.test_ids)
    with pytest.raises(LeakageError, match="both train and test"):
        fit(tiny, utts, leaky, out_dir=tmp_path, features=feats)
    # a speaker of the test part moved into training: ids disjoint, speakers not
    moved = Fold(0, "moved", fold.train_ids + fold.test_ids[:1], fold.val_ids,
                 fold.test_ids[1:])
    with pytest.raises(LeakageError, match="speaker"):
        check_fold(utts, moved, "lospk")
    check_fold(utts, moved, "kfold")  # speaker-dependent protocol: allowed


def test_final_split_trains_without_a_test_part(tiny, corpus, tmp_path):
    utts, feats = corpus
    config = tiny.replace(protocol="final", val_fraction=0.25)
    split = final_split(utts, config)
    assert not split.test_ids and len(split.val_ids) == 12
    assert {u.label for u in utts if u.id in split.val_ids} == {"ang", "hap", "neu", "sad"}
    result = fit(config, utts, out_dir=tmp_path, features=feats)
    assert result.metrics is None and result.directory == tmp_path
    assert load_checkpoint(tmp_path / CHECKPOINT_DIR).labels == ["ang", "hap", "neu", "sad"]
    assert not (tmp_path / "predictions.csv").exists()


def test_fit_needs_a_fold_unless_final(tiny, corpus, tmp_path):
    utts, feats = corpus
    with pytest.raises(ConfigError, match="choose a fold"):
        fit(tiny, utts, out_dir=tmp_path, features=feats)
    with pytest.raises(ConfigError, match="does not exist"):
        fit(tiny, utts, 9, out_dir=tmp_path, features=feats)


def test_a_final_split_too_small_for_every_class_is_a_clear_error(tiny, corpus, tmp_path):
    from sertk.data.splits import SplitError

    utts, feats = corpus  # 48 clips of 4 classes: 5 % is 3 clips, fewer than the classes
    with pytest.raises(SplitError, match="cannot hold each of the 4 classes"):
        final_split(utts, tiny.replace(protocol="final", val_fraction=0.05))


def test_a_final_split_can_validate_on_whole_speakers(tiny, corpus, tmp_path):
    from sertk.data.splits import SplitError

    utts, feats = corpus  # 4 speakers x 4 labels x 3 clips
    config = tiny.replace(protocol="final", final_val="speakers", val_speakers=1)
    split = final_split(utts, config)
    val_speakers = {u.speaker for u in utts if u.id in split.val_ids}
    train_speakers = {u.speaker for u in utts if u.id in split.train_ids}
    assert len(val_speakers) == 1 and not val_speakers & train_speakers and not split.test_ids
    assert len(split.train_ids) + len(split.val_ids) == len(utts)
    assert final_split(utts, config) == split  # the seed decides which speaker
    def held_out(**changes) -> set:
        ids = final_split(utts, config.replace(**changes)).val_ids
        return {u.speaker for u in utts if u.id in ids}

    assert len({frozenset(held_out(seed=s)) for s in range(8)}) > 1
    assert len(held_out(val_speakers=0.5)) == 2
    result = fit(config, utts, out_dir=tmp_path, features=feats)
    assert result.metrics is None
    assert load_checkpoint(tmp_path / CHECKPOINT_DIR).labels == ["ang", "hap", "neu", "sad"]
    with pytest.raises(SplitError, match="cannot hold out 4 of 4"):
        final_split(utts, config.replace(val_speakers=4))
    with pytest.raises(SplitError, match="need a speaker for every utterance"):
        final_split([replace(u, speaker="") if i == 0 else u for i, u in enumerate(utts)],
                    config)



@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_clipped_gradients_train_in_any_precision(tiny, corpus, tmp_path, precision):
    """Lightning refuses to clip gradients for a fused optimizer under mixed precision; a
    clipped bf16-mixed recipe must still train (its optimizer takes the per-tensor loop)
    and save float32 weights."""
    utts, feats = corpus
    config = tiny.replace(max_epochs=2, grad_clip=1.0, precision=precision)
    result = fit(config, utts, 1, out_dir=tmp_path / precision, features=feats)
    assert result.epochs == 2 and 0 <= result.metrics["ua"] <= 1
    model = load_checkpoint(result.checkpoint).model
    assert {p.dtype for p in model.parameters()} == {torch.float32}
