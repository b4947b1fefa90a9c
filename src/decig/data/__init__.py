"""Datasets and data lineage: image I/O, pix2pix transforms, the aligned / unaligned /
CelebAMask-HQ formats, the reproducible demo dataset, and DVC md5 fingerprints.

Import the submodules directly (``decig.data.factory.load_dataset``, ``decig.data.demo``,
``decig.data.lineage``): this package file stays empty so ``decig data md5`` and the CLI's
``--help`` do not pay for importing torch.
"""
