"""Pruning plans: one decision per unit, coupled groups, overrides, JSON round trip and edits, plots."""

import json

import numpy as np
import pytest
from PIL import Image

from decig.compress.coupling import RESNET_TRUNK, decision_units
from decig.compress.hinge import HingeSettings
from decig.compress.hinge_plots import GRID_FILE, plot_plan, plot_units, unet_label
from decig.compress.plan import PruningPlan, combined_magnitudes, make_plan, top_indices
from decig.compress.stats import channel_stats_from_model, load_channel_stats
from support.synthetic import condense_weights
from decig.core.errors import PruningError
from decig.models import build_from_manifest, default_manifest
from decig.train.channel_stats import compute_channel_stats, write_channel_stats


def synthetic_stats(manifest, alive_fraction=0.25, seed=0):
    """Per layer: the first ``alive_fraction`` of a random permutation is alive (~1), the rest ~1e-3."""
    rng = np.random.default_rng(seed)
    stats, alive = {}, {}
    for unit in decision_units(manifest):
        width = manifest.widths[unit[0]]
        live = np.sort(rng.permutation(width)[: max(1, round(alive_fraction * width))])
        for name in unit:
            values = 10 ** rng.uniform(-3.3, -3.0, width)
            values[live] = 10 ** rng.uniform(-0.3, 0.0, live.size)
            stats[name] = values
        alive[unit[0]] = tuple(int(i) for i in live)
    return stats, alive


@pytest.fixture
def unet():
    return default_manifest("unet_128", ngf=8)


@pytest.fixture
def resnet():
    return default_manifest("resnet_6blocks", ngf=8, input_size=32)


def test_unet_plan_keeps_the_live_channels_of_every_layer(unet):
    stats, alive = synthetic_stats(unet)
    plan = make_plan(stats, unet, HingeSettings())
    assert plan.family == "unet"
    assert plan.fixed_layers == (unet.final_layer,)
    assert [u.name for u in plan.units] == [n for n in unet.widths if n != unet.final_layer]
    for unit in plan.units:
        assert unit.layers == (unit.name,)
        assert unit.keep_indices == alive[unit.name]
        assert unit.keep == len(alive[unit.name]) and unit.hinge.clear and not unit.overridden
        assert unit.pruned_indices == tuple(i for i in range(unit.width) if i not in alive[unit.name])
    assert plan.kept_widths()["model.model.0"] == 2


def test_resnet_trunk_is_one_decision_with_the_same_indices(resnet):
    units = decision_units(resnet)
    trunk = units[[u[0] for u in units].index(RESNET_TRUNK)]
    assert len(trunk) == 1 + resnet.n_blocks
    assert all(name.endswith("conv_block.5") for name in trunk[1:])
    stats, alive = synthetic_stats(resnet)
    # One member at 1000x the scale of the others must not dominate the combined ranking: it only
    # disagrees on one channel, which the other six outvote.
    loud = trunk[3]
    stats[loud] = stats[loud] * 1000
    flipped = alive[RESNET_TRUNK][0]
    stats[loud][flipped] = 1e-3
    plan = make_plan(stats, resnet, HingeSettings())
    unit = plan.unit(trunk[2])  # any member finds the group
    assert unit.layers == trunk
    assert unit.keep_indices == alive[RESNET_TRUNK]
    widths = plan.kept_widths()
    assert {widths[name] for name in trunk} == {unit.keep}
    assert sum(1 for u in plan.units if RESNET_TRUNK in u.layers) == 1


def test_combined_magnitudes_average_each_members_share():
    stats = {"a": np.array([3.0, 1.0]), "b": np.array([100.0, 300.0])}
    np.testing.assert_allclose(combined_magnitudes(stats, ["a", "b"]), [0.5, 0.5])
    np.testing.assert_allclose(combined_magnitudes(stats, ["a"]), [3.0, 1.0])  # single layers stay raw
    zero = {"a": np.array([3.0, 1.0]), "b": np.zeros(2)}
    np.testing.assert_allclose(combined_magnitudes(zero, ["a", "b"]), [0.75, 0.25])  # an all-zero member has no vote


def test_top_indices_ties_keep_the_lower_index():
    assert top_indices([1.0, 5.0, 5.0, 0.0], 2) == (1, 2)
    assert top_indices([2.0, 2.0, 2.0], 1) == (0,)


def test_overrides_address_units_and_win(resnet):
    stats, _ = synthetic_stats(resnet)
    member = decision_units(resnet)[2][3]  # a trunk member other than the lead
    plan = make_plan(stats, resnet, HingeSettings(overrides={member: 30, "model.1": 5}, min_keep=16))
    assert plan.unit(RESNET_TRUNK).keep == 30 and plan.unit(RESNET_TRUNK).overridden
    assert plan.unit("model.1").keep == 5  # below min_keep: the person's number wins
    with pytest.raises(PruningError, match="disagree"):
        make_plan(stats, resnet, HingeSettings(overrides={RESNET_TRUNK: 30, member: 20}))
    with pytest.raises(PruningError, match="not a prunable layer"):
        make_plan(stats, resnet, HingeSettings(overrides={"model.99": 3}))
    with pytest.raises(PruningError, match="must be in 1..32"):
        make_plan(stats, resnet, HingeSettings(overrides={RESNET_TRUNK: 33}))


def test_stats_must_fit_the_model(unet):
    stats, _ = synthetic_stats(unet)
    first = next(iter(stats))
    with pytest.raises(PruningError, match=f"no entry for layer '{first}'"):
        make_plan({k: v for k, v in stats.items() if k != first}, unet, HingeSettings())
    with pytest.raises(PruningError, match="have 7 channels but the layer has 8"):
        make_plan({**stats, first: stats[first][:7]}, unet, HingeSettings())
    with pytest.raises(PruningError, match="'model.9'"):
        make_plan({**stats, "model.9": np.ones(3)}, unet, HingeSettings())
    plan = make_plan({**stats, unet.final_layer: np.ones(3)}, unet, HingeSettings())  # output layer ignored
    assert unet.final_layer not in plan.kept_widths()


def test_discriminators_are_not_planned():
    with pytest.raises(PruningError, match="generators only"):
        decision_units(default_manifest("patchgan_70", ngf=8))


def test_stats_from_a_condensed_model_give_the_condensed_plan(unet, tmp_path):
    model = build_from_manifest(unet)
    dead = condense_weights(model, unet, dead_fraction=0.75, scale=1e-3)
    stats = channel_stats_from_model(model)
    assert set(stats) == {n for n in unet.widths if n != unet.final_layer}
    # Written the way Stage I writes it: one file format for both stages.
    path = write_channel_stats(compute_channel_stats({"G": model}), tmp_path / "channel_stats.json")
    loaded = load_channel_stats(path)
    for name in stats:
        np.testing.assert_allclose(loaded[name], stats[name])
    plan = make_plan(loaded, unet, HingeSettings())
    for unit in plan.units:
        assert set(unit.keep_indices).isdisjoint(dead[unit.name])
        assert unit.keep == unit.width - len(dead[unit.name])


def test_json_round_trip(resnet, tmp_path):
    stats, _ = synthetic_stats(resnet)
    plan = make_plan(stats, resnet, HingeSettings(round_to=4, overrides={"model.1": 6}))
    path = plan.save(tmp_path / "plan.json")
    again = PruningPlan.load(path)
    assert again == plan
    again.check_against(resnet)


def _edit(plan, tmp_path, change):
    data = plan.to_dict()
    change(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    return path


def test_hand_edited_plan(unet, tmp_path):
    plan = make_plan(synthetic_stats(unet)[0], unet, HingeSettings())
    unit0 = plan.units[0]

    def new_keep(data):
        data["units"][0]["keep"] = 4
        data["units"][0]["keep_indices"] = None

    edited = PruningPlan.load(_edit(plan, tmp_path, new_keep))
    assert edited.units[0].keep == 4
    assert edited.units[0].keep_indices == top_indices(unit0.magnitudes, 4)

    def explicit(data):
        data["units"][0]["keep"] = 3
        data["units"][0]["keep_indices"] = [7, 0, 5]

    assert PruningPlan.load(_edit(plan, tmp_path, explicit)).units[0].keep_indices == (0, 5, 7)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["units"][0].update(keep=3), "keep is 3 but 2 keep_indices"),
        (lambda d: d["units"][0].update(keep=9, keep_indices=None), "keep 9 must be between 1 and the width 8"),
        (lambda d: d["units"][0].update(keep=2, keep_indices=[0, 8]), r"keep_indices \[8\] are outside 0..7"),
        (lambda d: d["units"][0].update(keep=2, keep_indices=[1, 1]), "duplicates"),
        (lambda d: d["units"][0].update(colour="red"), "unknown key"),
        (lambda d: d.update(schema_version=2), "schema_version 2 is not supported"),
        (lambda d: d.update(kind="other"), "not a decig pruning plan"),
        (lambda d: d["settings"].update(method="elbow"), "bad 'settings'"),
    ],
)
def test_bad_plan_files_are_refused(unet, tmp_path, change, message):
    plan = make_plan(synthetic_stats(unet)[0], unet, HingeSettings())
    with pytest.raises(PruningError, match=message):
        PruningPlan.load(_edit(plan, tmp_path, change))


def test_plan_file_errors(tmp_path):
    with pytest.raises(PruningError, match="not found"):
        PruningPlan.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PruningError, match="cannot be read as JSON"):
        PruningPlan.load(tmp_path / "bad.json")


def test_plan_must_match_the_model(unet, resnet):
    plan = make_plan(synthetic_stats(unet)[0], unet, HingeSettings())
    with pytest.raises(PruningError, match="is for a unet model"):
        plan.check_against(resnet)
    with pytest.raises(PruningError, match="16 output channels in the model but the plan says 8"):
        plan.check_against(default_manifest("unet_128", ngf=16))
    with pytest.raises(PruningError, match="does not have"):
        plan.check_against(default_manifest("unet_32", ngf=8))  # a 5-level U-Net lacks the deep layers
    with pytest.raises(PruningError, match="no decision for layer 'model.model.0'"):
        plan.replace_units(plan.units[1:]).check_against(unet)
    with pytest.raises(PruningError, match="decided twice"):
        plan.replace_units([*plan.units, plan.units[0]]).check_against(unet)
    rplan = make_plan(synthetic_stats(resnet)[0], resnet, HingeSettings())
    split = rplan.replace_units([*rplan.units[:2], *(u for u in rplan.units[2:] if RESNET_TRUNK not in u.layers)])
    trunk = rplan.unit(RESNET_TRUNK)
    broken = split.replace_units([*split.units, type(trunk)(**{**trunk.__dict__, "layers": trunk.layers[:2]})])
    with pytest.raises(PruningError, match="coupled layers must be decided together"):
        broken.check_against(resnet)


def test_plots_are_written(unet, tmp_path):
    plan = make_plan(synthetic_stats(unet)[0], unet, HingeSettings(overrides={"model.model.0": 5}))
    grid = plot_plan(plan, tmp_path / GRID_FILE)
    with Image.open(grid) as image:
        width, height = image.size
    assert width > 1000 and height > 700  # 4 columns x 4 rows of panels
    two = plan.replace_units(plan.units[:2])  # one PNG per unit; two show it and keep the test fast
    singles = plot_units(two, tmp_path / "layers")
    assert [p.name for p in singles] == ["model.model.0.png", "model.model.1.model.1.png"]
    assert all(p.stat().st_size > 5000 for p in singles)


def test_unet_labels():
    assert unet_label("model.model.0") == "down 0" and unet_label("model.model.3") == "up 0"
    assert unet_label("model.model.1.model.3.model.3.model.1") == "down 3"
    assert unet_label("model.model.1.model.3.model.5") == "up 2"
