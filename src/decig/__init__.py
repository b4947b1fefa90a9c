"""decig: device-efficient compression of conditional image generators (DECIG, CoroNetGAN).

The library has no Kubeflow imports; ``components/`` and ``pipeline/`` wrap :mod:`decig.stages`.
"""

__version__ = "0.1.0"
