"""Promotion gate edge cases: no champion, ties, NaN and missing metrics, absolute targets."""

import math

import pytest

from decig.tracking.gate import GatePolicy, decide

GOOD = {"fid": 40.0, "psnr": 22.0, "latency_p50_ms": 30.0, "speedup_vs_vanilla": 4.0, "params": 3_000_000,
        "parity_max_abs_diff": 2e-6}
STRICT = GatePolicy(fid_tolerance=1.0, psnr_tolerance=0.25, max_latency_ms=50, min_speedup=3, max_params=5_000_000)


def test_no_champion_promotes_when_targets_met():
    d = decide(GOOD, None, STRICT)
    assert d.promote, d.reasons
    assert any("no champion" in r for r in d.reasons)


def test_tie_is_no_worse():
    assert decide(GOOD, dict(GOOD), STRICT).promote


def test_quality_within_and_beyond_tolerance():
    champ = dict(GOOD)
    assert decide({**GOOD, "fid": 40.9}, champ, STRICT).promote
    d = decide({**GOOD, "fid": 41.5}, champ, STRICT)
    assert not d.promote and d.summary() == "reject (fid)"
    assert "worse by 1.5" in " ".join(d.reasons)
    assert not decide({**GOOD, "psnr": 21.5}, champ, STRICT).promote
    assert decide({**GOOD, "psnr": 21.8}, champ, STRICT).promote


@pytest.mark.parametrize("bad", [math.nan, math.inf, None, "n/a"])
def test_non_finite_candidate_metric_blocks(bad):
    d = decide({**GOOD, "fid": bad}, GOOD, STRICT)
    assert not d.promote
    assert any(r.startswith("FAIL fid: candidate fid") for r in d.reasons)


def test_missing_required_metric_blocks_and_is_named():
    cand = {k: v for k, v in GOOD.items() if k != "latency_p50_ms"}
    d = decide(cand, None, STRICT)
    assert not d.promote and "FAIL latency: candidate latency_p50_ms missing" in d.reasons


def test_champion_with_nan_does_not_block_measured_candidate():
    d = decide(GOOD, {**GOOD, "fid": math.nan}, STRICT)
    assert d.promote and any("champion fid is not a finite number" in r for r in d.reasons)


def test_absolute_targets():
    assert not decide({**GOOD, "latency_p50_ms": 60}, None, STRICT).promote
    assert not decide({**GOOD, "speedup_vs_vanilla": 2.5}, None, STRICT).promote
    assert not decide({**GOOD, "params": 6_000_000}, None, STRICT).promote
    assert not decide({**GOOD, "parity_max_abs_diff": 1e-3}, None, STRICT).promote


def test_disabled_checks_are_skipped():
    policy = GatePolicy(fid_tolerance=None, psnr_tolerance=None, max_parity_error=None)
    d = decide({}, None, policy)
    assert d.promote and d.checks == []


def test_decision_serializes():
    out = decide(GOOD, None, STRICT).to_dict()
    assert out["promote"] is True and out["summary"] == "promote"
    assert {c["name"] for c in out["checks"]} == {"fid", "psnr", "latency", "speedup", "size", "parity"}
