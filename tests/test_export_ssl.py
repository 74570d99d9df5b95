"""Export of SSL models (sertk.export): the encoder goes into the ONNX graph, padded to
max_seconds inside (one time length, so the tracing exporter can capture the paper's
back-end); parity is checked on clips of several lengths like every export. Encoders that
group-normalise over time (wav2vec 2.0 base) are refused with the reason."""
import numpy as np
import pytest
import torch

from sertk.export import ExportError, export_onnx, runner
from sertk.features import FeatureConfig
from sertk.models import create_model, save_checkpoint
from tests.ssl_encoders import write_tiny_encoder


def _checkpoint(tmp_path, name, norm="layer"):
    encoder = write_tiny_encoder(tmp_path / f"enc-{norm}", feat_extract_norm=norm,
                                 kind="wavlm" if norm == "layer" else "wav2vec2")
    model = create_model(name, n_classes=3, encoder=str(encoder), hidden=32, n_heads=4).eval()
    return save_checkpoint(tmp_path / name, model, model_name=name, labels=["a", "b", "c"],
                           feature_config=FeatureConfig(padding="batch", max_seconds=1.0),
                           norm_mean=[], norm_std=[]), model


@pytest.mark.parametrize("name", ["ssl-linear", "ssl-proposed"])
def test_onnx_export_includes_the_encoder_and_matches_pytorch(tmp_path, name):
    path, model = _checkpoint(tmp_path, name)
    report = export_onnx(path, tmp_path / f"{name}.onnx")
    assert report.max_abs_diff <= report.tolerance and report.check_clips >= 4
    run = runner(report.path, "onnx")
    g = torch.Generator().manual_seed(5)
    waves = torch.randn(2, 12000, generator=g) * 0.1
    lengths = torch.tensor([12000, 3000])
    with torch.no_grad():
        want = torch.softmax(model(waves, lengths), dim=1).numpy()
    got = run(waves.numpy(), lengths.numpy())
    assert np.abs(got - want).max() < 1e-4


def test_group_norm_encoders_are_refused(tmp_path):
    path, _ = _checkpoint(tmp_path, "ssl-linear", norm="group")
    with pytest.raises(ExportError, match="group-normalises"):
        export_onnx(path, tmp_path / "g.onnx")
    assert not (tmp_path / "g.onnx").exists()
