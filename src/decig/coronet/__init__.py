"""CoroNetGAN: GAN compression by differentiable channel pruning through hypernetworks.

The second compression method beside DECIG (``method: coronet`` in the config). Every prunable
conv layer of the generator owns a latent vector with one entry per output channel; a small
hypernetwork turns the latent vectors into the layer's weights, so that channel ``j`` of a layer
carries weight exactly when its latent entry is non-zero. A proximal L1 (soft-threshold) step on
the latents after every optimizer step drives entries to exactly zero until a target compression
ratio is met; the surviving channels are then materialized into an ordinary generator stored as
manifest + tensors, which evaluation, export and the registry share with DECIG.

Modules: :mod:`~decig.coronet.layout` (which latent feeds which layer), :mod:`~decig.coronet.proximal`
(the pure maths), :mod:`~decig.coronet.hypernet` (the generator built from latents),
:mod:`~decig.coronet.budget` (cost of a channel selection), :mod:`~decig.coronet.sparsify` (the
controller), :mod:`~decig.coronet.extract`, :mod:`~decig.coronet.tasks`, :mod:`~decig.coronet.stage`.
"""
