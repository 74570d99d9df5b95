"""End to end with an SSL model on a tiny local encoder: `sertk cv` (hidden states computed
once into the feature store, read lazily), then the Predictor on the fold's checkpoint
gives the probabilities the fold's evaluation wrote; recipe keys the model cannot honour
are refused before anything is written."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from sertk.audio import load_audio
from sertk.cli import main
from sertk.data.manifest import write_manifest
from sertk.infer.predictor import load_model
from sertk.models import load_checkpoint
from tests.ssl_encoders import write_tiny_encoder
from tests.train.synthetic import write_wav_corpus

# Evaluation reads float16 hidden states from the store; the Predictor computes them in
# float32 from the audio: probabilities differ by float16 rounding (measured 4e-6 here,
# against 5e-7 for a fine-tuned model, which reads audio in both; predictions.csv keeps 6
# significant digits).
STORE_TOL = 1e-4


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssl")
    manifest = write_manifest(write_wav_corpus(root / "audio"), root / "manifest.csv")
    return manifest, write_tiny_encoder(root / "encoder")


def _args(manifest, encoder, cache, *extra):
    return ["cv", "--manifest", str(manifest), "--model", "ssl-linear",
            "--set", f"model_args.encoder={encoder}", "--set", "model_args.hidden=16",
            "--padding", "batch", "--threads", "1", "--no-progress", "--protocol", "lospk",
            "--max-folds", "1", "--epochs", "2", "--batch-size", "4", "--lr", "0.01",
            "--cache-dir", str(cache), *extra]


@pytest.mark.parametrize("finetune", [0, 1])
def test_cv_then_predict_on_an_ssl_model(setup, tmp_path, monkeypatch, finetune):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    manifest, encoder = setup
    out = tmp_path / "run"
    extra = ["--set", f"model_args.finetune_layers={finetune}"]
    assert main([*_args(manifest, encoder, tmp_path / "cache", *extra), "-o", str(out)]) == 0
    fold = out / "fold-00"
    assert (fold / "metrics.json").is_file() and (fold / "checkpoint" / "config.json").is_file()
    stores = list((tmp_path / "cache" / "ssl").glob("*/shard-*.json"))
    # a frozen encoder runs once into the store; a fine-tuned one reads the audio each step
    assert bool(stores) == (finetune == 0)

    predictor = load_model(fold / "checkpoint", device="cpu", vad=False)
    with open(fold / "predictions.csv") as fh:
        rows = list(csv.DictReader(fh))
    labels = list(predictor.labels)
    waves = [load_audio(manifest.parent / "audio" / f"{row['id']}.wav", 16000) for row in rows]
    probs = predictor.probabilities(waves)
    written = np.array([[float(row[f"prob_{label}"]) for label in labels] for row in rows])
    # predictions.csv keeps 6 significant digits; stored features are float16
    assert np.abs(probs - written).max() < (STORE_TOL if finetune == 0 else 1e-5)
    # the fine-tuned top layer moved; the layer below it, and a frozen encoder, did not
    import transformers
    initial = transformers.AutoModel.from_pretrained(encoder).state_dict()
    trained = load_checkpoint(fold / "checkpoint").model.encoder.state_dict()
    name = "encoder.layers.{}.feed_forward.output_dense.weight"
    assert torch.equal(trained[name.format(0)], initial[name.format(0)])  # never tuned
    assert torch.equal(trained[name.format(1)], initial[name.format(1)]) == (finetune == 0)


@pytest.mark.parametrize("extra,match", [(["--set", "spec_augment=true"], "spec_augment"),
                                         (["--padding", "fixed"], "padding: batch")])
def test_ssl_recipe_keys_it_cannot_honour_are_refused(setup, tmp_path, capsys, extra, match):
    manifest, encoder = setup
    out = tmp_path / "run"
    assert main([*_args(manifest, encoder, tmp_path / "cache"), *extra, "-o", str(out)]) == 2
    assert match in capsys.readouterr().err
