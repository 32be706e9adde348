"""`rag serve`: build the pipeline (ingesting seeds/ into an empty index first) and serve the HTTP
API and the Gradio chat on one port with uvicorn until stopped.

What is served is `ui.api.create_app`'s (the endpoints are described in `ui.api`); seeding is
`index.seed`'s. This module only starts things and prints where they are.
"""

from __future__ import annotations

from rag.settings import Settings


def _say(text: str) -> None:
    print(text, flush=True)


def run(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Build the pipeline (ingesting seeds/ into an empty index first) and serve until stopped."""
    import uvicorn

    from index.seed import seed_if_empty
    from rag import embeddings
    from rag.answerers import resolve_backend
    from rag.pipeline import build
    from ui.api import create_app

    host = host or settings.server.host
    port = port or settings.server.port
    embed_model = embeddings.build(settings.embed, settings.store)
    seed_if_empty(settings, embed_model, say=_say)
    pipeline = build(settings, embed_model=embed_model)
    app = create_app(pipeline)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    catalogue = pipeline.catalogue
    _say(
        f"news-rag: {catalogue.size} chunks from {len(catalogue.articles())} articles; "
        f"answers: {resolve_backend(settings)}\n"
        f"  chat UI   http://{shown}:{port}/\n"
        f"  HTTP API  http://{shown}:{port}/v1  (OpenAI base_url; docs at /docs)"
        + ("\n  API key required (RAG_SERVER__API_KEY)" if settings.server.api_key else "")
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
