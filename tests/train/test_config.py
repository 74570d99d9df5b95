"""The flat recipe: paper defaults, files, overrides, coercion, clear errors, saved runs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sertk.train.config import (ConfigError, TrainConfig, check_same_run, from_dict,
                                load_run_config, parse_overrides, read_config_file,
                                resolve_config, save_config)

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_papers_recipe():
    c = TrainConfig()
    assert (c.model, c.optimizer, c.lr, c.batch_size) == ("proposed", "adam", 1e-4, 32)
    assert (c.max_epochs, c.patience, c.padding, c.max_seconds) == (100, 20, "fixed", 4.0)
    # every extra is off
    assert not (c.class_weights or c.spec_augment or c.speed_perturb or c.gain_perturb_db
                or c.mixup_alpha or c.label_smoothing or c.weight_decay or c.grad_clip
                or c.warmup_epochs)
    assert c.lr_schedule == "none"


@pytest.mark.parametrize("name", ["paper", "smoke", "best"])
def test_shipped_recipes_load(name):
    config = resolve_config(REPO / "configs" / f"{name}.yaml")
    assert isinstance(config, TrainConfig)


def test_paper_recipe_equals_defaults():
    paper = resolve_config(REPO / "configs" / "paper.yaml")
    assert paper.result_dict() == TrainConfig().result_dict()


def test_overrides_are_coerced_by_field_type():
    c = resolve_config(None, ["lr=1e-3", "epochs=7", "class_weights=yes", "fold=2",
                              "val_speakers=0.25", "devices=auto", "limit_train_batches=3",
                              "model_args.hidden=64", "model_args.pool_type=avg"])
    assert c.lr == 1e-3 and c.max_epochs == 7 and c.class_weights is True and c.fold == 2
    assert c.val_speakers == 0.25 and c.devices == "auto" and c.limit_train_batches == 3
    assert isinstance(c.limit_train_batches, int)
    assert c.model_args == {"hidden": 64, "pool_type": "avg"}
    assert resolve_config(None, ["fold=none"]).fold is None
    assert resolve_config(None, ["lr_schedule=none"]).lr_schedule == "none"


def test_file_then_overrides_then_keywords(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("lr: 0.002\nseed: 3\nmodel_args:\n  hidden: 32\n  n_heads: 4\n")
    c = resolve_config(path, ["seed=5", "model_args.hidden=16"], seed=9, model=None)
    assert c.lr == 0.002 and c.seed == 9 and c.model == "proposed"
    assert c.model_args == {"hidden": 16, "n_heads": 4}


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python >= 3.11")
def test_toml_file(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('model = "base3"\nmax_epochs = 4\n[model_args]\nhidden = 16\n')
    c = resolve_config(path)
    assert (c.model, c.max_epochs, c.model_args) == ("base3", 4, {"hidden": 16})


def test_unknown_key_names_key_file_and_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key 'learning_rate'"):
        resolve_config(path)
    with pytest.raises(ConfigError, match="did you mean 'patience'"):
        resolve_config(None, ["patiense=3"])


@pytest.mark.parametrize("override, match", [
    ("lr=fast", "lr must be float"), ("max_epochs=0", "max_epochs must be >= 1"),
    ("padding=zero", "padding must be one of"), ("protocol=random", "protocol must be one of"),
    ("val_fraction=1.5", "val_fraction"), ("epochs", "key=value"),
    ("class_weights=maybe", "class_weights must be bool"),
    ("batching=sorted", "batching must be one of"),
    ("batching=bucketed", "batching 'bucketed' needs padding 'batch'"),
])
def test_bad_values_are_clear_errors(override, match):
    with pytest.raises(ConfigError, match=match):
        resolve_config(None, [override])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_config_file(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_config_file(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        read_config_file(tmp_path / "broken.yaml")


def test_parse_overrides_keeps_strings_except_model_args():
    assert parse_overrides(["a=1", "model_args.x=2.5", "model_args.y=1e-4"]) == {
        "a": "1", "model_args": {"x": 2.5, "y": 1e-4}}


def test_saved_config_round_trips_and_guards_the_run(tmp_path):
    config = TrainConfig(model="base2", seed=4, model_args={"hidden": 16}, fold=1)
    save_config(config, tmp_path)
    assert load_run_config(tmp_path) == config
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 4
    assert (tmp_path / "config.yaml").read_text().startswith("manifest:")
    check_same_run(config.replace(fold=3, progress_bar=False), tmp_path)  # runtime keys only
    with pytest.raises(ConfigError, match=r"different recipe \(seed: 4 -> 5\)"):
        check_same_run(config.replace(seed=5), tmp_path)


def test_from_dict_rejects_non_mappings():
    with pytest.raises(ConfigError, match="mapping"):
        from_dict(["lr"])


def test_thread_count_is_recorded_and_reused_on_resume(tmp_path, monkeypatch):
    import torch

    from sertk.train.config import settle_threads

    monkeypatch.setattr(torch, "get_num_threads", lambda: 5)
    auto = TrainConfig(num_threads=0)
    assert settle_threads(auto, tmp_path / "new").num_threads == 5  # a new run: torch's count
    save_config(auto.replace(num_threads=3), tmp_path)
    assert settle_threads(auto, tmp_path).num_threads == 3  # resumed with the recorded count
    assert settle_threads(auto.replace(num_threads=2), tmp_path).num_threads == 2  # user wins
