"""Starting Keras quickly and quietly: the first ``import keras`` of a process.

Two things cost a microscopist at every start of ``aistem analyze`` or ``aistem serve`` and give nothing back:
Keras imports scikit-learn (≈ 1 s on a 2-core CPU) only for its scikit-learn wrappers, which this program does not
use; and TensorFlow's native code prints start-up notices to the terminal ("oneDNN custom operations are on", an
absl warning about its own logging) even with ``TF_CPP_MIN_LOG_LEVEL`` set. :func:`import_keras` avoids both and
loses nothing: scikit-learn stays importable afterwards, and every other line written to stderr during the import is
passed on.
"""

from __future__ import annotations

import importlib.abc
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

__all__ = ["import_keras", "without_start_up_notices"]

#: TensorFlow's start-up notices, held back when ``TF_CPP_MIN_LOG_LEVEL`` asks for fewer logs (the command line sets 3).
_NOTICES = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .* rebuild TensorFlow"
)


#: One first import at a time: the stderr redirection and the import hook are process-wide.
_FIRST_IMPORT = threading.Lock()


class _NoScikitLearn(importlib.abc.MetaPathFinder):
    """Makes ``import sklearn`` fail while it sits first in ``sys.meta_path``."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError(f"{name} is not imported while Keras starts (aistem.core.startup.import_keras)")
        return None


def without_start_up_notices(text: str) -> str:
    """``text`` without the lines of TensorFlow's start-up notices (:data:`_NOTICES`); every other line kept."""
    return "".join(line for line in text.splitlines(keepends=True) if not _NOTICES.search(line))


@contextmanager
def _native_stderr_filtered() -> Iterator[None]:
    """Hold back what is written to file descriptor 2 inside the block, then pass it on without the notices.

    Does nothing when ``TF_CPP_MIN_LOG_LEVEL`` is unset or 0 (the user wants TensorFlow's logs) or when stderr has
    no file descriptor (e.g. a test's captured stream).
    """
    try:
        quiet = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")) >= 1
        fd = sys.stderr.fileno() if quiet else -1
    except (ValueError, AttributeError, OSError):  # an unreadable level, or a stream without a descriptor
        fd = -1
    if fd != 2:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            held.seek(0)
            rest = without_start_up_notices(held.read().decode("utf-8", errors="replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


def import_keras() -> ModuleType:
    """``import keras`` without scikit-learn and without TensorFlow's start-up notices.

    Keras supports scikit-learn being absent (its wrappers then say it is not installed), so scikit-learn is hidden
    while Keras is imported and importable as usual afterwards (umap-learn needs it); where it is already imported,
    Keras gets it. Where Keras is already imported this is a plain ``import keras``.
    """
    if "keras" in sys.modules:
        import keras

        return keras
    with _FIRST_IMPORT:  # a second thread waits here and then finds Keras imported
        blocker = None if "sklearn" in sys.modules else _NoScikitLearn()
        if blocker is not None:
            sys.meta_path.insert(0, blocker)
        try:
            with _native_stderr_filtered():
                import keras
        finally:
            if blocker is not None:
                sys.meta_path.remove(blocker)
    return keras
