"""Channel statistics: exact per-output-channel norms, near-zero shares, JSON and plot artifacts."""

import json

import pytest
import torch
from torch import nn

from decig.core.errors import DataError
from decig.train.channel_stats import (
    compute_channel_stats,
    layer_stats,
    network_stats,
    plot_channel_stats,
    read_channel_stats,
    write_channel_stats,
)


def _conv_with_norms(norms: list[float]) -> nn.Conv2d:
    conv = nn.Conv2d(2, len(norms), 1, bias=False)
    with torch.no_grad():
        for c, n in enumerate(norms):
            conv.weight[c] = n / 2  # two inputs x 1x1: L1 norm = n
    return conv


def test_layer_stats_sorted_and_near_zero_counts():
    row = layer_stats("c", _conv_with_norms([0.5, 100.0, 0.001, 4.0]))
    assert row["sorted_norms"] == pytest.approx([100.0, 4.0, 0.5, 0.001])
    assert row["max"] == pytest.approx(100.0)
    assert row["near_zero"] == {"0.01": 2, "0.05": 3}  # < 1.0 and < 5.0
    assert row["near_zero_share"]["0.01"] == 0.5


def test_conv_transpose_uses_output_channels():
    convt = nn.ConvTranspose2d(3, 2, 1, bias=False)  # weight [in=3, out=2, 1, 1]
    with torch.no_grad():
        convt.weight.zero_()
        convt.weight[:, 1] = 1.0
    row = layer_stats("t", convt)
    assert row["channels"] == 2
    assert row["sorted_norms"] == [3.0, 0.0]


def test_network_stats_skip_final_layer_and_summarise():
    net = nn.Sequential(_conv_with_norms([1.0, 0.0001]), _conv_with_norms([2.0, 2.0, 2.0]), nn.Conv2d(3, 3, 1))
    stats = network_stats(net)
    assert [row["name"] for row in stats["layers"]] == ["0", "1"]
    summary = stats["summary"]
    assert summary["channels"] == 5 and summary["near_zero"]["0.01"] == 1
    assert summary["near_zero_share"]["0.01"] == pytest.approx(0.2)
    assert summary["mean_layer_share"]["0.01"] == pytest.approx(0.25)


def test_json_round_trip_and_validation(tmp_path):
    net = nn.Sequential(_conv_with_norms([1.0, 3.0]), nn.Conv2d(2, 1, 1))
    path = write_channel_stats(compute_channel_stats({"G": net}), tmp_path / "s.json")
    data = read_channel_stats(path)
    assert data["networks"]["G"]["layers"][0]["sorted_norms"] == pytest.approx([3.0, 1.0])
    data["networks"]["G"]["layers"][0]["sorted_norms"] = [1.0, 3.0]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(DataError, match="not sorted"):
        read_channel_stats(bad)
    bad.write_text("{")
    with pytest.raises(DataError, match="not readable JSON"):
        read_channel_stats(bad)
    with pytest.raises(DataError, match="not found"):
        read_channel_stats(tmp_path / "missing.json")


def test_plot_writes_png_with_baseline(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3), nn.ConvTranspose2d(8, 4, 3), nn.Conv2d(4, 3, 1))
    stats = compute_channel_stats({"G": net})
    out = plot_channel_stats(stats, tmp_path / "fig.png", baseline=stats)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ValueError, match="network"):
        plot_channel_stats(stats, tmp_path / "x.png", network="G_B")


def test_rows_keep_group_magnitudes_by_channel_index(tmp_path):
    """The norm's β after a conv counts with its channel, and the file keeps channel order for pruning."""
    conv = _conv_with_norms([1.0, 3.0, 0.0])
    norm = nn.BatchNorm2d(3)
    with torch.no_grad():
        norm.bias.copy_(torch.tensor([0.5, 0.0, -2.0]))  # channel 2: zero weights but a shift of -2
    net = nn.Sequential(conv, norm, nn.Conv2d(3, 1, 1))
    stats = compute_channel_stats({"G": net})
    row = stats["networks"]["G"]["layers"][0]
    assert row["norms"] == pytest.approx([1.5, 3.0, 2.0])
    assert row["sorted_norms"] == pytest.approx([3.0, 2.0, 1.5])
    assert stats["measure"] == "group_l1_per_output_channel"
    path = write_channel_stats(stats, tmp_path / "s.json")
    data = json.loads(path.read_text())
    del data["networks"]["G"]["layers"][0]["norms"]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="lacks per-channel norms"):
        read_channel_stats(path)
