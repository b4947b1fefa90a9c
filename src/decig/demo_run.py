"""``decig demo``: the DECIG stages run directly, in order, on the built-in demo data.

This is what ``make run`` calls until the Kubeflow DAG drives the same stage functions
(:mod:`decig.stages`). It trains a vanilla baseline (``penalty.shape: none``) and a DECIG
Stage-I model with the same config and steps, prunes the DECIG model at its automatic hinges,
then measures vanilla vs pruned side by side (interleaved latency, params, PSNR on the test split).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from decig.config import DecigConfig, config_from_dict
from decig.log import get_logger

log = get_logger(__name__)


def _variant(cfg: DecigConfig, **stage1_penalty: Any) -> DecigConfig:
    raw = cfg.to_dict()
    raw["stage1"]["penalty"].update(stage1_penalty)
    return config_from_dict(raw, "demo variant")


def _psnr_on_test(model_dir: Path, cfg: DecigConfig, data_root: Path, limit: int) -> float:
    import torch

    from decig.data.factory import load_dataset
    from decig.data.transforms import TransformConfig
    from decig.evaluate.paired_metrics import psnr
    from decig.models.persistence import load_model

    model, _ = load_model(model_dir)
    model.eval()
    ds = load_dataset(cfg.data.format, data_root, "test", direction=cfg.data.direction,
                      transform=TransformConfig(preprocess="none", flip=False))
    values = []
    with torch.no_grad():
        for i in range(min(limit, len(ds))):
            s = ds[i]
            values.append(float(psnr(model(s["A"][None]), s["B"][None])))
    return sum(values) / len(values)


def run_demo(cfg: DecigConfig, out_root: str | Path, *, eval_images: int = 20) -> dict[str, Any]:
    """Run prepare -> profile -> Stage I (vanilla and DECIG) -> prune -> compare; returns the summary."""
    from decig import stages
    from decig.evaluate.benchmark import NamedModel, benchmark
    from decig.models.persistence import load_model

    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = stages.prepare_data(cfg, out / "data")
    data_root = Path(data["data_root"])
    device = cfg.devices[0]
    prof = stages.profile_device(cfg, device, out / f"profile-{device}.json")
    vanilla = stages.stage1(_variant(cfg, shape="none"), data_root, None, out / "stage1-vanilla")
    decig = stages.stage1(cfg, data_root, prof["profile"], out / "stage1-decig")
    pruned = stages.prune(cfg, out / "stage1-decig", out / "prune", data_root=data_root)

    models = {"vanilla": out / "stage1-vanilla" / "generator", "decig-pruned": out / "prune" / "model"}
    named = [NamedModel(name, *load_model(path), source=str(path)) for name, path in models.items()]
    for m in named:
        m.model.eval()
    lat = benchmark(named, baseline="vanilla", backends=("eager",), threads=1, repeats=20)
    summary = {
        "data_md5": data["data_md5"],
        "alpha": decig.get("alpha"),
        "params": {n: row["params"] for n, row in lat["models"].items()},
        "psnr": {n: _psnr_on_test(p, cfg, data_root, eval_images) for n, p in models.items()},
        "latency": lat,
        "zero_shot": pruned.get("zero_shot"),
        "wall_time_s": time.perf_counter() - t0,
        "outputs": str(out.resolve()),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
