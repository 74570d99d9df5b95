import pytest
import torch

from sertk.cli import main
from sertk.models import list_models
from tests.models.test_sernet import spec_parameter_counts


@pytest.fixture
def single_thread():
    """Tiny timed runs are fastest on one thread (see tests/models/conftest.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_models_command_lists_every_model(capsys, single_thread):
    assert main(["models", "--frames", "30", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "30 frames" in lines[0]
    assert [line.split()[0] for line in lines[2:]] == list_models(all_models=True)
    rows = {line.split()[0]: line for line in lines[2:]}
    for name, count in spec_parameter_counts(4).items():  # derived by hand from the layer sizes
        assert f"{count:,}" in rows[name]
