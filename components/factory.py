"""Turn the component bodies into KFP components that run in one pinned image.

Built on demand (not at import) so ``decig pipeline compile --image ...`` can choose the image
without environment tricks. ``install_kfp_package=False``: the image already holds the exact kfp,
and air-gapped clusters cannot ``pip install`` at container start.
"""

from __future__ import annotations

from types import SimpleNamespace


def build_components(image: str) -> SimpleNamespace:
    """Every component of :mod:`decig.components.functions`, by function name, on ``image``."""
    from kfp import dsl

    from decig.components import functions

    return SimpleNamespace(**{
        fn.__name__: dsl.component(fn, base_image=image, install_kfp_package=False) for fn in functions.ALL
    })
