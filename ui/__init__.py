"""The interfaces: the `rag` command line, the HTTP API and the Gradio chat (one process: `rag serve`)."""

import rag as _rag  # noqa: F401  (sets the offline environment first)
