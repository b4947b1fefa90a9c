"""What every other package builds on, and that imports nothing else of decig: user-facing errors,
logging and progress, lazy package namespaces, atomic file writes and hashing, and the one
:class:`~decig.core.registry.Registry` every variation point is defined with."""
