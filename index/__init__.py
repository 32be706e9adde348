"""Ingestion: load article files, clean them, drop repeated paragraphs, chunk, embed, store."""

import rag as _rag  # noqa: F401  (sets the offline environment first)
