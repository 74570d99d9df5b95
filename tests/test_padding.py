"""The padding owner: its modes, the batch it pads, the lengths the model gets; and that no
other module decides padding by comparing mode strings."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import sertk
from sertk.features import FeatureConfig
from sertk.padding import PADDING_MODES, Padding, pad_features


def _clips(frames, n_mels=2):
    return [torch.arange(n_mels * t, dtype=torch.float32).reshape(n_mels, t) + 1 for t in frames]


def test_an_unknown_mode_is_refused_with_the_modes_named():
    with pytest.raises(ValueError, match=r"padding must be one of \('fixed', 'batch'\), got 'zero'"):
        Padding("zero")
    with pytest.raises(ValueError, match="padding must be one of"):
        FeatureConfig(padding="zero")


def test_fixed_pads_every_clip_to_max_frames_and_gives_no_lengths():
    pad = torch.tensor([-1.0, -2.0])
    batch, lengths = Padding("fixed").pad(_clips([3, 9]), 6, pad)
    assert batch.shape == (2, 2, 6) and lengths is None
    assert torch.equal(batch[0, :, :3], _clips([3])[0])
    assert torch.equal(batch[0, :, 3:], pad[:, None].expand(2, 3))
    assert torch.equal(batch[1], _clips([9])[0][:, :6])  # cut at max_frames
    assert not Padding("fixed").gives_lengths
    assert Padding("fixed").model_lengths(torch.tensor([3, 6])) is None


def test_batch_pads_to_the_longest_clip_and_gives_its_lengths():
    batch, lengths = Padding("batch").pad(_clips([3, 5, 2]), 10, torch.zeros(2))
    assert batch.shape == (3, 2, 5) and lengths.tolist() == [3, 5, 2]
    assert lengths.dtype == torch.int64
    batch, lengths = Padding("batch").pad(_clips([3, 12]), 10, torch.zeros(2))
    assert batch.shape == (2, 2, 10) and lengths.tolist() == [3, 10]  # cut at max_frames
    assert Padding("batch").gives_lengths


def test_a_feature_config_pads_as_its_saved_mode_says():
    assert [FeatureConfig(padding=m).padder for m in PADDING_MODES] == [Padding(m) for m in
                                                                         PADDING_MODES]
    assert FeatureConfig(padding="batch").to_dict()["padding"] == "batch"  # checkpoint JSON


def test_pad_features_does_not_alias_pad_value():
    pad = torch.zeros(2)
    out = pad_features([torch.ones(2, 1)], 3, pad)
    out[0, 0, 2] = 5.0
    assert pad.tolist() == [0.0, 0.0]


def test_no_module_but_the_owner_compares_padding_modes():
    package = Path(sertk.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "padding.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(
                    isinstance(side, ast.Constant) and side.value in PADDING_MODES
                    for side in [node.left, *node.comparators]):
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert found == []
