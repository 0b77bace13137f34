"""The errors mediatk raises on purpose.

Every failure a user can cause (a missing file, a corrupt checkpoint, an unknown model name) is a
:class:`MediatkError`.  The CLI prints ``str(err)`` as one line on stderr and exits with ``err.exit_code``;
anything else is a bug and keeps its traceback.  Keep messages to one line that says what is wrong and,
where it helps, what to do about it.
"""

from __future__ import annotations


class MediatkError(Exception):
    """Base class: a problem with the user's input or environment, reported as one line."""

    exit_code = 2

    def __init__(self, message: str):
        # One line, always: newlines in a message would break the CLI's contract.
        super().__init__(" ".join(str(message).split()))


class ConfigError(MediatkError):
    """Bad option values or combinations, unknown registry names."""


class DataError(MediatkError):
    """A dataset that cannot be found, recognised or read."""


class MediaError(MediatkError):
    """An image or video file that cannot be read or written."""


class CheckpointError(MediatkError):
    """A checkpoint that is missing, corrupt, or belongs to another model."""


class TrainingError(MediatkError):
    """Training stopped for a reason the user should know (NaN loss, nothing to resume)."""

    exit_code = 3


class StorageError(MediatkError):
    """A file could not be written (read-only folder, disk full, file-size limit); what was there is kept."""

    exit_code = 1
    cause: str = ""  # the system's words, e.g. "No space left on device"
