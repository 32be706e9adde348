"""The evaluation harness: gold question sets, deterministic metrics, reports and the CI gate."""

import rag as _rag  # noqa: F401  (sets the offline environment first)
