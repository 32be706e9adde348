"""news-rag: question answering over news articles, with a citation for every claim."""

from importlib import metadata as _metadata

from rag import offline as _offline

_offline.apply()

try:
    __version__ = _metadata.version("news-rag")
except _metadata.PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
