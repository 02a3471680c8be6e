"""Exceptions shared across NAG; each names the bad field, the value and what is accepted."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "InvalidChoiceError",
    "InvalidArchitectureError",
    "DataNotFoundError",
    "NagInputError",
    "NagRuntimeError",
    "Terminated",
]


class InvalidChoiceError(ValueError):
    """A named field got a value outside its accepted set.

    The message is one line: ``<field>: unknown value '<value>'; accepted: a, b, c``.
    """

    def __init__(self, field: str, value: object, accepted: Iterable[object]) -> None:
        self.field = field
        self.value = value
        self.accepted = [str(a) for a in accepted]
        super().__init__(f"{field}: unknown value {value!r}; accepted: {', '.join(self.accepted)}")


class InvalidArchitectureError(ValueError):
    """An architecture (or its text form) is malformed for its search space; the message says why."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}: invalid value {value!r}: {reason}")


class DataNotFoundError(FileNotFoundError):
    """A benchmark data file was found in none of the searched places."""

    def __init__(self, relpath: str, searched: Iterable[str], how: str) -> None:
        self.relpath = relpath
        self.searched = list(searched)
        super().__init__(
            f"data file {relpath!r} not found; searched: {', '.join(self.searched)}; to obtain it: {how}"
        )


class NagInputError(ValueError):
    """Bad input found before any work: the CLI prints the one-line message and exits with code 2.

    The message names the field, the value and what is accepted, e.g. ``--steps: 0 is out of range; accepted: 1..1000``.
    """


class NagRuntimeError(RuntimeError):
    """A failure while working (a damaged file, a locked run, a failed step): one line naming the file or step,
    exit code 1 in the CLI."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by the CLI's SIGTERM handler, so SIGTERM unwinds like Ctrl-C (state saved,
    ``finally`` blocks run); the CLI exits 143 for it and 130 for a plain `KeyboardInterrupt`."""

    def __init__(self, signum: int = 15) -> None:
        self.signum = signum
        super().__init__(f"terminated by signal {signum}")
