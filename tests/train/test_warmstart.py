"""Fine-tuning: init_from a checkpoint (same or new labels), freeze, and refused checkpoints."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from sertk.cli import main as sertk_main
from sertk.data.manifest import write_manifest
from sertk.infer import Predictor
from sertk.models import load_checkpoint
from sertk.train.config import ConfigError
from sertk.train.fitting import RESULT_FILE, fit
from tests.infer.tiny import speech_like
from tests.train.synthetic import write_wav_corpus


@pytest.fixture(scope="module")
def base(corpus, tmp_path_factory):
    """A tiny base7 trained on fold 0 of the synthetic corpus (4 labels)."""
    from sertk.train.config import TrainConfig

    root = tmp_path_factory.mktemp("base")
    config = TrainConfig.of(model="base7", model_args={"hidden": 8}, protocol="lospk",
                         max_epochs=3, batch_size=8, lr=0.01, padding="batch", max_seconds=1.0,
                         progress_bar=False, cache_dir=str(root / "cache"), num_threads=1)
    return fit(config, corpus[0], 0, out_dir=root / "run", features=corpus[1])


def test_same_labels_start_at_the_checkpoints_validation_ua(base, tiny, corpus, tmp_path):
    utts, feats = corpus
    checkpoint = load_checkpoint(base.checkpoint)
    tuned = fit(tiny.replace(init_from=str(base.checkpoint), max_epochs=1), utts, 0,
                out_dir=tmp_path / "tuned", features=feats)
    start = json.loads((tuned.directory / RESULT_FILE).read_text())["init_val_ua"]
    assert start == pytest.approx(checkpoint.metadata["val_ua"], abs=1e-6)
    # from scratch the same recipe starts elsewhere: the weights were really copied
    scratch = fit(tiny.replace(max_epochs=1), utts, 0, out_dir=tmp_path / "scratch",
                  features=feats)
    assert "init_val_ua" not in json.loads((scratch.directory / RESULT_FILE).read_text())


def test_a_new_label_set_gets_a_new_head_trains_and_predicts(base, tiny, corpus, tmp_path,
                                                             capsys):
    utts, feats = corpus
    renamed = {"ang": "anger", "hap": "joy", "neu": "calm", "sad": "sad"}
    utts = [dataclasses.replace(u, label=renamed[u.label]) for u in utts if u.label != "sad"]
    feats = {u.id: feats[u.id] for u in utts}
    tuned = fit(tiny.replace(init_from=str(base.checkpoint), freeze="front"), utts, 0,
                out_dir=tmp_path / "tuned", features=feats)
    err = capsys.readouterr().err
    assert "new head for labels anger, calm, joy" in err
    new, old = load_checkpoint(tuned.checkpoint), load_checkpoint(base.checkpoint)
    assert new.labels == ["anger", "calm", "joy"] and tuned.metrics["n"] > 0
    # the frozen front (all residual-BLSTM blocks of base7) is the checkpoint's, bit for bit
    for name, tensor in new.model.state_dict().items():
        if name.startswith("blstm."):
            assert torch.equal(tensor, old.model.state_dict()[name]), name
    assert new.model.head.weight.shape[0] == 3
    prediction = Predictor(new, device="cpu").predict(speech_like(1.0), 16000)
    assert prediction.label in new.labels


def test_a_bad_checkpoint_is_one_line_and_nothing_is_written(tiny, corpus, tmp_path):
    utts, feats = corpus
    with pytest.raises(ConfigError, match="init_from: .*checkpoint not found"):
        fit(tiny.replace(init_from=str(tmp_path / "missing")), utts, 0,
            out_dir=tmp_path / "run", features=feats)
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def wav_manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("wavs")
    manifest = root / "m.csv"
    write_manifest(write_wav_corpus(root / "audio"), manifest)
    return manifest


@pytest.mark.parametrize("extra, words", [
    (["--init-from", "/no/such/checkpoint"], "checkpoint not found"),
    (["--init-from", "emodb", "--padding", "fixed"],
     "feature_config.padding differs: the checkpoint has 'batch', the recipe 'fixed'"),
    (["--init-from", "emodb", "--padding", "batch", "--model", "base7"],
     "the checkpoint is model 'proposed' but the recipe trains 'base7'"),
    (["--init-from", "emodb", "--padding", "batch", "--set", "model_args.hidden=64"],
     "model_config.hidden differs"),
    (["--init-from", "emodb", "--padding", "batch", "--freeze", "9"], "freeze 9: this model"),
    (["--freeze", "front"], "freeze needs init_from"),
    (["--init-from", "emodb", "--freeze", "conv"], "freeze must be 'front' or a number"),
])
def test_cli_refuses_unusable_checkpoints_before_writing(wav_manifest, tmp_path, capsys, extra,
                                                         words):
    out = tmp_path / "out"
    for command in ("train", "cv"):
        code = sertk_main([command, "--manifest", str(wav_manifest), "-o", str(out),
                           "--no-progress", *extra])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.count("\n") == 0 and words in err, (command, err)
        assert not out.exists()
