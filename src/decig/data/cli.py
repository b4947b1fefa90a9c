"""``decig data``: generate the demo dataset, validate a dataset layout, fingerprint a folder."""

from __future__ import annotations

import argparse
import json

from decig.data.transforms import PREPROCESS_MODES, TransformConfig

# Literal copies keep registering these commands free of heavy imports (the factory imports torch);
# tests check them against decig.data.factory.FORMATS and the defaults of generate_demo_dataset.
_FORMATS = ("aligned", "unaligned", "celebamask-hq")
_DEMO_COUNTS = {"train": 320, "val": 40, "test": 40}


def _cmd_demo(args: argparse.Namespace) -> int:
    from decig.data.demo import generate_demo_dataset
    from decig.data.lineage import dvc_dir_md5

    out = generate_demo_dataset(
        args.out, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, size=args.size, seed=args.seed,
        overwrite=args.overwrite,
    )
    print(f"demo dataset: {out}")
    print(f"dvc md5: {dvc_dir_md5(out)}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from decig.data.factory import load_dataset

    transform = TransformConfig(preprocess=args.preprocess, load_size=args.load_size, crop_size=args.crop_size)
    opts = {} if args.split_file is None else {"split_file": args.split_file}  # a DataError for other formats
    ds = load_dataset(args.format, args.root, args.split, transform=transform, divisible_by=args.divisible_by, **opts)
    print(json.dumps(ds.summary(), indent=2))
    return 0


def _cmd_md5(args: argparse.Namespace) -> int:
    from decig.data.lineage import dataset_manifest

    manifest = dataset_manifest(args.path)
    print(f"{manifest['dvc_md5']}  {args.path}  ({manifest['nfiles']} files, {manifest['size']} bytes)")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="demo data, dataset validation and fingerprints",
                       description="Generate the built-in demo dataset, validate dataset layouts, compute DVC md5s.")
    dsub = p.add_subparsers(dest="data_cmd", required=True, metavar="{demo,check,md5}")

    demo = dsub.add_parser("demo", help="generate the built-in label-map->photo demo dataset",
                           description="Deterministic: the same arguments give byte-identical files on any machine.")
    demo.add_argument("--out", default="data", help="output directory (default: data, the folder data.dvc tracks)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--size", type=int, default=128, help="side of each half image (multiple of 32, default: 128)")
    for split, n in _DEMO_COUNTS.items():
        demo.add_argument(f"--n-{split}", type=int, default=n, help=f"{split} pairs (default: {n})")
    demo.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty directory")
    demo.set_defaults(func=_cmd_demo)

    check = dsub.add_parser("check", help="validate a dataset split and print its counts and sizes",
                            description="Scans every file of the split (full decode) and stops at the first "
                                        "problem, naming the file.")
    check.add_argument("format", choices=_FORMATS)
    check.add_argument("root")
    check.add_argument("--split", default="train",
                       help="train/val/test (celebamask-hq: ratio split 0.8/0.1/0.1, or 'all'); default: train")
    check.add_argument("--split-file", help="celebamask-hq: text file of the ids in this split, one per line")
    check.add_argument("--divisible-by", type=_positive, default=None,
                       help="required divisor of the preprocessed size (2**num_downs for a U-Net, e.g. 256)")
    check.add_argument("--preprocess", choices=PREPROCESS_MODES, default="resize_and_crop",
                       help="as in training (default: resize_and_crop, pix2pix's default)")
    check.add_argument("--load-size", type=_positive, default=286)
    check.add_argument("--crop-size", type=_positive, default=256)
    check.set_defaults(func=_cmd_check)

    md5 = dsub.add_parser("md5", help="the md5 `dvc add PATH` would record, plus file count and size")
    md5.add_argument("path")
    md5.set_defaults(func=_cmd_md5)

