"""A static embedding distilled on this machine from the shipped MiniLM (Model2Vec's method).

Each of MiniLM's 30,522 word pieces is passed once through the int8 ONNX model (as
`[CLS] piece [SEP]`, mean-pooled), the vectors are reduced by PCA to 256 dimensions and weighted
by Zipf-estimated frequency (SIF), as `model2vec.distill` does; no torch, no download, about a
minute on two cores. A text's embedding is then the mean of its pieces' vectors: a table lookup,
two orders of magnitude faster than running the transformer, which makes ingestion fast. Inference
is `model2vec.StaticModel`; the distilled model is saved in its format under RAG_LLM__MODELS_DIR
(`make install` makes it in the checkout's models/; the first use makes it if none of
`known_dirs` has it).
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import PrivateAttr

from rag.embeddings.base import STATIC_MODEL_NAME, ArrayEmbedding
from rag.errors import BackendUnavailableError

log = logging.getLogger(__name__)

DIMS = 256
SIF_COEFFICIENT = 1e-4  # model2vec's default
_BATCH = 2048
_lock = threading.Lock()


def model_dir(models_dir: Path) -> Path:
    return Path(models_dir) / STATIC_MODEL_NAME


def distill(out: Path, progress: bool = True) -> Path:
    """Make the static model from the installed MiniLM and save it (model2vec's format) in `out`."""
    from model2vec import StaticModel

    from rag.embeddings.minilm import MiniLMEmbedding, minilm_tokenizer

    teacher = MiniLMEmbedding()
    tokenizer = minilm_tokenizer()
    vocab = tokenizer.get_vocab()
    n = len(vocab)
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    ids = np.array([[cls, i, sep] for i in range(n)], dtype=np.int64)
    pooled = np.zeros((n, teacher.dim), dtype=np.float32)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, unit="piece", desc=f"distilling {STATIC_MODEL_NAME}", file=sys.stderr)
    for start in range(0, n, _BATCH):
        batch = ids[start : start + _BATCH]
        pooled[start : start + _BATCH] = teacher.hidden(batch).mean(axis=1)
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    # PCA by eigendecomposition of the covariance, as model2vec.distill.inference.apply_pca
    centred = pooled - pooled.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred / (n - 1))
    reduced = centred @ vectors[:, ::-1][:, :DIMS]
    # SIF weighting with Zipf-estimated frequencies (word pieces are ordered by frequency)
    inv_rank = 1 / np.arange(2, n + 2)
    weight = SIF_COEFFICIENT / (SIF_COEFFICIENT + inv_rank / inv_rank.sum())
    model = StaticModel(
        vectors=(reduced * weight[:, None]).astype(np.float32), tokenizer=tokenizer, normalize=True
    )
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    tmp.replace(out)
    return out


def known_dirs(models_dir: Path) -> list[Path]:
    """Where the distilled model is looked for: RAG_LLM__MODELS_DIR; the models/ of the
    checkout this package runs from (`make install` distils there, and a process started in
    another folder finds it); the environment's share/news-rag/models, for an installed package
    (`python -m rag.embeddings.static "$VIRTUAL_ENV/share/news-rag/models"` distils there)."""
    package_root = Path(__file__).resolve().parents[len(__name__.split(".")) - 1]
    return [models_dir, package_root / "models", Path(sys.prefix) / "share" / "news-rag" / "models"]


def find(models_dir: Path) -> Path | None:
    """The distilled model in the first of `known_dirs` that has it; None if none has."""
    for where in map(model_dir, known_dirs(models_dir)):
        if (where / "model.safetensors").exists():
            return where
    return None


def load(models_dir: Path) -> Any:
    """The static model, distilled first (into `models_dir`) if it is not there yet."""
    from model2vec import StaticModel

    with _lock:
        where = find(models_dir)
        if where is None:
            where = model_dir(models_dir)
            log.warning(
                "distilling %s from MiniLM into %s (once, about a minute)", STATIC_MODEL_NAME, where
            )
            where.parent.mkdir(parents=True, exist_ok=True)
            distill(where)
    try:
        return StaticModel.from_pretrained(where, force_download=False)
    except Exception as exc:  # a damaged model folder: say how to make it again
        raise BackendUnavailableError(
            f"the static embedding model in {where} does not load ({exc}); delete the folder "
            "and run `make install` (or any rag command) to distil it again"
        ) from exc


class StaticEmbedding(ArrayEmbedding):
    """Mean of word-piece vectors (model2vec `StaticModel`), L2-normalised."""

    _model: Any = PrivateAttr()

    def __init__(self, models_dir: Path, batch_size: int = 1024, **kwargs: Any) -> None:
        super().__init__(model_name=STATIC_MODEL_NAME, embed_batch_size=batch_size, **kwargs)
        self._model = load(models_dir)

    @classmethod
    def class_name(cls) -> str:
        return "StaticEmbedding"

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMS), dtype=np.float32)
        return np.asarray(
            self._model.encode(texts, batch_size=self.embed_batch_size, show_progress_bar=False),
            dtype=np.float32,
        )


def main() -> None:
    """`python -m rag.embeddings.static [MODELS_DIR]`: distil the model if it is not there yet."""
    import rag  # noqa: F401  (offline settings for the libraries)

    where = model_dir(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models"))
    if (where / "model.safetensors").exists():
        print(f"{where}: already there")
        return
    where.parent.mkdir(parents=True, exist_ok=True)
    distill(where)
    print(f"{where}: distilled")


if __name__ == "__main__":
    main()
