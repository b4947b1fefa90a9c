"""The CycleGAN image history buffer (Shrivastava et al.), made deterministic and checkpointable.

The discriminator is shown, with probability 1/2, an image generated at an *earlier* step instead
of the newest one, which damps oscillation between G and D. The reference draws those coin flips
from Python's global ``random`` module, so a run cannot be resumed exactly and the choices depend
on whatever else consumed that RNG. Here each pool owns a ``torch.Generator`` seeded by the
caller, and :meth:`state_dict` holds both the stored images and the generator state as tensors,
so a resumed run makes the very same choices (and the state loads with ``weights_only=True``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from decig.core.errors import CheckpointError


class ImagePool:
    """Up to ``size`` past generated images; ``size == 0`` disables the history (pass-through)."""

    def __init__(self, size: int, seed: int) -> None:
        if size < 0:
            raise ValueError(f"image pool size must be >= 0, got {size}")
        self.size = size
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(seed)
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        """Return a batch of the same shape mixing ``images`` with stored ones (reference semantics).

        While the pool fills up every new image is stored and returned. Once full, each image is,
        with probability 1/2, swapped with a random stored image (the stored one is returned and
        the new one takes its place); otherwise it is returned unchanged.
        """
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
                continue
            # Coin and slot come from the pool's own generator: same sequence after a resume.
            if torch.rand((), generator=self.generator).item() > 0.5:
                slot = int(torch.randint(self.size, (), generator=self.generator).item())
                out.append(self.images[slot].clone())
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        # Images go to CPU so a checkpoint written on a GPU loads anywhere.
        return {
            "size": self.size,
            "generator": self.generator.get_state(),
            "images": [img.detach().cpu() for img in self.images],
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        if int(state.get("size", -1)) != self.size:
            raise CheckpointError(
                f"checkpoint image pool holds size {state.get('size')!r} but the config asks for {self.size}; "
                "resume with the same pool_size"
            )
        images = list(state["images"])
        if len(images) > self.size:
            raise CheckpointError(f"checkpoint image pool holds {len(images)} images, more than its size {self.size}")
        self.generator.set_state(state["generator"])
        self.images = [img.to(device) for img in images]
