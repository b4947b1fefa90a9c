"""Worker for test_ddp.py, launched by torchrun: one Stage-I run, rank-local results to JSON.

Usage: torchrun --nproc_per_node=N ddp_stage1_worker.py DATA_ROOT OUT_DIR RESULTS_DIR [stop=K | resume]

``stop=K`` ends the run after K steps with a checkpoint (a preemption); ``resume`` continues it.
"""

import json
import os
import sys
from pathlib import Path

from decig.config import load_config
from decig.train.stage1 import train_stage1


def main() -> None:
    data_root, out_dir, results = (Path(a) for a in sys.argv[1:4])
    cfg = load_config(overrides=[
        "model.arch=unet_32", "model.ngf=4", "model.ndf=4", "model.input_size=32",
        "data.load_size=32", "data.crop_size=32", "stage1.batch_size=2", "stage1.steps=4",
        "stage1.checkpoint_every=2", "stage1.device=cpu", "stage1.penalty.factor=mac",
    ])  # fmt: skip
    mode = sys.argv[4] if len(sys.argv) > 4 else ""
    stop_at = int(mode.split("=", 1)[1]) if mode.startswith("stop=") else None
    metrics = train_stage1(cfg, data_root, out_dir, resume=mode == "resume", stop_at=stop_at)
    rank = int(os.environ["RANK"])
    results.mkdir(parents=True, exist_ok=True)
    (results / f"rank{rank}.json").write_text(json.dumps({"rank": rank, **metrics}))


if __name__ == "__main__":
    main()
