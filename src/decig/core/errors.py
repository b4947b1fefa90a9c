"""Error types with messages meant for the person at the terminal.

Every failure caused by user input (a config, a dataset, a checkpoint, a device name) raises a
:class:`DecigError` subclass whose message says *what* is wrong and *where* (file, key, layer),
so the CLI can print it without a traceback. Bugs stay ordinary exceptions with tracebacks.
"""


class DecigError(Exception):
    """Base class for user-facing errors; the CLI prints ``str(err)`` and exits with status 2."""


class ConfigError(DecigError):
    """A configuration file or override is invalid."""


class DataError(DecigError):
    """A dataset is missing, malformed, or inconsistent; the message names the file."""


class CheckpointError(DecigError):
    """A checkpoint does not fit the chosen architecture or cannot be read safely."""


class ManifestError(DecigError):
    """An architecture manifest is malformed or internally inconsistent."""


class EvaluationError(DecigError):
    """A metric cannot be computed as asked (missing weights, too few images, unsupported metric)."""


class ExportError(DecigError):
    """A model export failed or its output does not match the PyTorch model within tolerance."""


class DeviceError(DecigError):
    """A target device is unknown or unavailable, or a device profile does not fit the model."""


class PruningError(DecigError):
    """A pruning plan or target cannot be applied: it does not fit the model, or a budget is out of reach."""


class NonFiniteLossError(DecigError):
    """A training loss became NaN or infinite; the message names the step, the loss and the way out."""


class TrackingError(DecigError):
    """The tracking server or its artifact store cannot be reached, or refused an operation."""
