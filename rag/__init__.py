"""news-rag: question answering over news articles, with a citation for every claim."""

from rag import offline as _offline

_offline.apply()

__version__ = "0.1.0"
