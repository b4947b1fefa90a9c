"""Stage II reads Stage I's channel_stats.json: the same group magnitudes it would compute from the weights."""

import json

import numpy as np
import pytest
import torch

from decig.compress.stats import channel_stats_from_model, load_channel_stats
from decig.core.errors import PruningError
from decig.models.zoo import create_model
from decig.train.channel_stats import compute_channel_stats, write_channel_stats


@pytest.fixture()
def trained_like():
    torch.manual_seed(0)
    model = create_model("unet_32", ngf=4)
    with torch.no_grad():  # non-trivial shifts, as after training (BatchNorm starts at β = 0)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.bias.normal_()
    return model


def test_stage1_file_gives_the_magnitudes_stage2_computes(trained_like, tmp_path):
    path = write_channel_stats(compute_channel_stats({"G": trained_like}), tmp_path / "channel_stats.json")
    from_file = load_channel_stats(path)
    from_weights = channel_stats_from_model(trained_like)
    assert list(from_file) == list(from_weights)
    for name, values in from_weights.items():
        np.testing.assert_allclose(from_file[name], values, rtol=1e-6)


def test_ambiguous_old_or_foreign_files_are_refused(trained_like, tmp_path):
    doc = compute_channel_stats({"G_A": trained_like, "G_B": trained_like})
    path = write_channel_stats(doc, tmp_path / "cyc.json")
    with pytest.raises(PruningError, match="holds networks \\['G_A', 'G_B'\\]; say which one"):
        load_channel_stats(path)
    assert set(load_channel_stats(path, "G_B")) == set(channel_stats_from_model(trained_like))
    doc["schema_version"] = 1
    path.write_text(json.dumps(doc))
    with pytest.raises(PruningError, match="schema_version 1 is not supported.*older files hold only sorted"):
        load_channel_stats(path, "G_A")
    path.write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(PruningError, match="schema_version None"):
        load_channel_stats(path)
