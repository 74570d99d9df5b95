"""Figures are written as valid, non-empty PNGs; bad input is refused clearly."""
from __future__ import annotations

import matplotlib.image
import pytest

from sertk.eval.plots import plot_confusion, plot_confusion_grid, plot_history, read_history
from sertk.eval.rundir import ReportError, write_history

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LABELS = ["angry", "happy", "neutral", "sad"]
CM = [[50, 5, 3, 2], [10, 30, 15, 5], [4, 6, 70, 10], [0, 0, 0, 0]]  # no sad in the test


def assert_png(path, min_width=200):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    height, width, _ = matplotlib.image.imread(path).shape
    assert width >= min_width and height >= 200


def test_confusion_png(tmp_path):
    path = plot_confusion(CM, LABELS, tmp_path / "sub" / "cm.png", title="pooled")
    assert path == tmp_path / "sub" / "cm.png"
    assert_png(path)
    assert [p.name for p in path.parent.iterdir()] == ["cm.png"]  # no temporary left


def test_confusion_grid_png(tmp_path):
    grid = {f"Base{i}": (CM, LABELS) for i in range(1, 4)}
    grid["ours"] = ([[5, 1], [2, 7]], ["a", "b"])
    path = plot_confusion_grid(grid, tmp_path / "grid.png", ncols=2)
    assert_png(path, min_width=600)
    with pytest.raises(ReportError, match="no confusion matrices"):
        plot_confusion_grid({}, tmp_path / "empty.png")


def test_confusion_shape_must_fit_labels(tmp_path):
    with pytest.raises(ReportError, match=r"shape \(4, 4\) does not fit 3 labels"):
        plot_confusion(CM, LABELS[:3], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_history_png_from_csv_with_gaps(tmp_path):
    rows = [{"epoch": e, "train_loss": 2 / e, "val_loss": 2.2 / e,
             "val_ua": 0.3 + 0.05 * e, "val_wa": 0.35 + 0.04 * e} for e in range(1, 9)]
    rows.append({"epoch": 9, "train_loss": 0.2})  # no validation in the last epoch
    csv_path = write_history(tmp_path, rows)
    columns = read_history(csv_path)
    assert columns["epoch"].tolist() == list(range(1, 10))
    assert columns["val_ua"][-1] != columns["val_ua"][-1]  # NaN for the empty cell
    assert_png(plot_history(csv_path, tmp_path / "curves.png", title="fold 1"))


def test_history_without_validation_columns(tmp_path):
    path = plot_history({"epoch": [1, 2], "train_loss": [1.0, 0.5]}, tmp_path / "c.png")
    assert_png(path)


def test_read_history_errors(tmp_path):
    bad = tmp_path / "h.csv"
    bad.write_text("step,loss\n1,0.5\n")
    with pytest.raises(ReportError, match="needs a header with 'epoch'"):
        read_history(bad)
    bad.write_text("epoch,train_loss\n1,lots\n")
    with pytest.raises(ReportError, match="'train_loss' holds a value that is not a number"):
        read_history(bad)
