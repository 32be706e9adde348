"""The static embedding distilled from MiniLM (`make install` makes it in models/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.embeddings import backends
from rag.embeddings.base import LOCAL_MODEL_NAME
from rag.embeddings.static import DIMS, STATIC_MODEL_NAME, StaticEmbedding, model_dir
from rag.errors import BackendUnavailableError, EmbeddingMismatchError
from rag.settings import EmbedSettings, StoreSettings
from rag.store.chroma import Store
from tests.conftest import ROOT

MODELS = ROOT / "models"


@pytest.fixture(scope="module")
def static() -> StaticEmbedding:
    if not (model_dir(MODELS) / "model.safetensors").exists():
        pytest.fail("the static model is missing: `make install` distils it into models/")
    return StaticEmbedding(MODELS)


def test_vectors_are_unit_length_and_deterministic(static: StaticEmbedding) -> None:
    texts = ["The Buffalo Bills beat the Chiefs.", "Inflation rose 2.3 percent in March.", ""]
    a, b = static.embed(texts), static.embed(texts)
    assert a.shape == (3, DIMS)
    assert np.allclose(a, b)
    assert np.allclose(np.linalg.norm(a[:2], axis=1), 1.0, atol=1e-5)
    assert len(static.get_query_embedding("who won?")) == DIMS


def test_related_text_is_closer_than_unrelated(static: StaticEmbedding) -> None:
    q = static.get_query_embedding("Which team does Damar Hamlin play for?")
    related = static.get_text_embedding(
        "Damar Hamlin, the Buffalo Bills safety, collapsed on the field."
    )
    unrelated = static.get_text_embedding(
        "The central bank raised interest rates by a quarter point."
    )
    assert float(np.dot(q, related)) > float(np.dot(q, unrelated)) + 0.05


def test_settings_choose_it_and_the_store_remembers(
    tmp_path: Path, static: StaticEmbedding
) -> None:
    model = backends.build(EmbedSettings(model=STATIC_MODEL_NAME, models_dir=MODELS))
    assert model.model_name == STATIC_MODEL_NAME
    store = Store(StoreSettings(path=tmp_path, collection="static"), create=True)
    store.check_model(STATIC_MODEL_NAME, DIMS, claim=True)
    with pytest.raises(EmbeddingMismatchError, match="rebuild"):
        store.check_model(LOCAL_MODEL_NAME, 384)


def test_a_damaged_model_folder_says_what_to_do(tmp_path: Path) -> None:
    where = model_dir(tmp_path)
    where.mkdir(parents=True)
    (where / "model.safetensors").write_bytes(b"not a model")
    with pytest.raises(BackendUnavailableError, match="distil it again"):
        StaticEmbedding(tmp_path)
