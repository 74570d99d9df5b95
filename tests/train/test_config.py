"""The recipe: paper defaults, sections and flat keys, files, overrides, coercion, clear errors,
saved runs (in sections, and the former flat layout)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sertk.features import FeatureConfig
from sertk.train.augment import AugmentOptions
from sertk.train.config import (ConfigError, TrainConfig, check_same_run, from_dict,
                                load_run_config, parse_overrides, read_config_file,
                                resolve_config, save_config)

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_papers_recipe():
    c = TrainConfig()
    assert (c.model.name, c.optim.optimizer, c.optim.lr, c.batching.batch_size) == (
        "proposed", "adam", 1e-4, 32)
    assert (c.optim.max_epochs, c.optim.patience) == (100, 20)
    assert (c.features.padding, c.features.max_seconds) == ("fixed", 4.0)
    assert c.features == FeatureConfig()  # the front-end of SPEC section 1
    # every extra is off
    assert not c.augment.active
    o = c.optim
    assert not (o.class_weights or o.mixup_alpha or o.label_smoothing or o.weight_decay
                or o.grad_clip or o.warmup_epochs)
    assert o.lr_schedule == "none"


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
    assert c.optim.lr == 1e-3 and c.optim.max_epochs == 7 and c.optim.class_weights is True
    assert c.protocol.fold == 2 and c.protocol.val_speakers == 0.25
    assert c.runtime.devices == "auto" and c.runtime.limit_train_batches == 3
    assert isinstance(c.runtime.limit_train_batches, int)
    assert c.model.args == {"hidden": 64, "pool_type": "avg"}
    assert resolve_config(None, ["fold=none"]).protocol.fold is None
    assert resolve_config(None, ["lr_schedule=none"]).optim.lr_schedule == "none"
    # 1 is one batch, 1.0 all of them: the distinction survives the command line
    assert isinstance(resolve_config(None, ["limit_val_batches=1.0"]).runtime.limit_val_batches,
                      float)
    assert resolve_config(None, ["devices=2"]).runtime.devices == 2
    assert resolve_config(None, ["freeze=2"]).model.freeze == "2"


def test_sections_and_flat_keys_are_one_recipe(tmp_path):
    flat = resolve_config(None, ["lr=1e-3", "patience=5", "padding=batch", "spec_augment=true",
                                 "model_args.hidden=32"])
    dotted = resolve_config(None, ["optim.lr=1e-3", "optim.patience=5", "features.padding=batch",
                                   "augment.spec_augment=true", "model.args.hidden=32"])
    path = tmp_path / "sections.yaml"
    path.write_text("optim:\n  lr: 0.001\n  patience: 5\nfeatures:\n  padding: batch\n"
                    "augment:\n  spec_augment: true\nmodel:\n  args:\n    hidden: 32\n")
    assert flat == dotted == resolve_config(path)
    assert flat.augment == AugmentOptions(spec_augment=True)  # the module's own options


def test_model_args_merge_key_by_key_across_layers(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model:\n  name: base3\n  args:\n    hidden: 32\n    n_heads: 4\n")
    c = resolve_config(path, ["model_args.hidden=16"])
    assert (c.model.name, c.model.args) == ("base3", {"hidden": 16, "n_heads": 4})


def test_file_then_overrides_then_keywords(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("lr: 0.002\nseed: 3\nmodel_args:\n  hidden: 32\n  n_heads: 4\n")
    c = resolve_config(path, ["seed=5", "model_args.hidden=16"], seed=9, model=None)
    assert c.optim.lr == 0.002 and c.runtime.seed == 9 and c.model.name == "proposed"
    assert c.model.args == {"hidden": 16, "n_heads": 4}


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python >= 3.11")
def test_toml_file(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('model = "base3"\nmax_epochs = 4\n[model_args]\nhidden = 16\n')
    c = resolve_config(path)
    assert (c.model.name, c.optim.max_epochs, c.model.args) == ("base3", 4, {"hidden": 16})


def test_unknown_key_names_key_file_and_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key 'learning_rate'"):
        resolve_config(path)
    with pytest.raises(ConfigError, match="did you mean 'patience'"):
        resolve_config(None, ["patiense=3"])
    with pytest.raises(ConfigError, match=r"unknown key 'optim\.patiense'; did you mean "
                                          r"'optim\.patience'"):
        resolve_config(None, ["optim.patiense=3"])


@pytest.mark.parametrize("override, match", [
    ("lr=fast", "lr must be float"), ("max_epochs=0", "max_epochs must be >= 1"),
    ("padding=zero", "padding must be one of"), ("protocol=random", "protocol must be one of"),
    ("val_fraction=1.5", "val_fraction"), ("epochs", "key=value"),
    ("class_weights=maybe", "class_weights must be bool"),
    ("batching=sorted", "batching must be one of"),
    ("batching=bucketed", "batching 'bucketed' needs padding 'batch'"),
    ("speed_perturb=0.5", r"speed_perturb must be < 0\.5"), ("fold=-1", "fold must be >= 0"),
    ("freeze=first", "freeze must be 'front' or a number"), ("n_mels=0", "n_mels must be >= 1"),
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
    assert parse_overrides(["a=1", "optim.lr=1e-3", "model_args.x=2.5", "model.args.y=1e-4"]) == {
        "a": "1", "optim": {"lr": "1e-3"}, "model_args": {"x": 2.5}, "model": {"args": {"y": 1e-4}}}


def test_saved_config_round_trips_and_guards_the_run(tmp_path):
    config = TrainConfig.of(model="base2", seed=4, model_args={"hidden": 16}, fold=1)
    save_config(config, tmp_path)
    assert load_run_config(tmp_path) == config
    assert json.loads((tmp_path / "config.json").read_text())["runtime"]["seed"] == 4
    assert (tmp_path / "config.yaml").read_text().startswith("data:\n  manifest:")
    check_same_run(config.replace(fold=3, progress_bar=False), tmp_path)  # runtime keys only
    with pytest.raises(ConfigError, match=r"different recipe \(seed: 4 -> 5\)"):
        check_same_run(config.replace(seed=5), tmp_path)


def test_run_directories_saved_flat_still_read(tmp_path):
    """Run directories written before the recipe had sections hold one flat mapping."""
    flat = {"manifest": "m.csv", "protocol": "lospk", "model": "base2",
            "model_args": {"hidden": 16},
            "padding": "batch", "max_seconds": 4.0, "lr": 0.0005, "max_epochs": 40,
            "spec_augment": True, "dimensions": "", "seed": 3, "num_threads": 1}
    (tmp_path / "config.json").write_text(json.dumps(flat))
    saved = load_run_config(tmp_path)
    assert saved == TrainConfig.of(**flat)
    assert (saved.protocol.name, saved.optim.lr) == ("lospk", 5e-4)
    assert saved.augment.spec_augment is True
    check_same_run(saved.replace(fold=2), tmp_path)  # resumable by the new code
    with pytest.raises(ConfigError, match=r"different recipe \(lr: 0\.0005 -> 0\.001\)"):
        check_same_run(saved.replace(lr=1e-3), tmp_path)


def test_from_dict_rejects_non_mappings():
    with pytest.raises(ConfigError, match="mapping"):
        from_dict(["lr"])


def test_thread_count_is_recorded_and_reused_on_resume(tmp_path, monkeypatch):
    import torch

    from sertk.train.config import settle_threads

    monkeypatch.setattr(torch, "get_num_threads", lambda: 5)
    auto = TrainConfig.of(num_threads=0)
    # a new run: torch's count
    assert settle_threads(auto, tmp_path / "new").runtime.num_threads == 5
    save_config(auto.replace(num_threads=3), tmp_path)
    # resumed with the recorded count; a count the user gives wins
    assert settle_threads(auto, tmp_path).runtime.num_threads == 3
    assert settle_threads(auto.replace(num_threads=2), tmp_path).runtime.num_threads == 2
