"""icl-book: the package the chapters of *In-context learning, executed* import.

Layers, lowest first (a test keeps the imports pointing down): ``hmm`` and ``papers`` (leaves),
``tasks`` (prompt generators), ``models`` and ``bayes`` (exact references), ``train`` and
``train_linear_attention``, ``store`` (artifacts), ``experiments``, ``analysis``, ``claims``, ``cli``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("icl-book")
except PackageNotFoundError:   # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"
