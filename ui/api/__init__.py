"""The HTTP API (FastAPI) with the Gradio chat mounted on the same app: what `rag serve` runs.

Endpoints (all JSON; OpenAPI docs at `/docs`), one router module each under `ui.api.routes`:

- `POST /v1/query` (`questions`): a question (with optional top_k, filters, backend, history) ->
  the `Answer`; `"stream": true` sends server-sent events (`token`…, `answer`, `done`).
- `POST /v1/chat/completions` (`chat`): OpenAI-compatible (model `news-rag`, any model name
  accepted), so the official `openai` client works with `base_url=http://HOST:PORT/v1`;
  citations ride in the message text and in extra top-level `citations`/`answer` fields.
- `GET /v1/models` (`models`), `GET /v1/health` (`health`), `GET /v1/articles` and
  `POST /v1/articles` (`articles`: JSON articles or a multipart file upload, read by
  `index.intake` and ingested with the same cleaning and dedup as `rag ingest`).

Errors a client can fix get a 4xx with `{"detail": "<what is wrong and what to do>"}`; a missing
backend or index gets 503 (`ui.api.errors`). When `RAG_SERVER__API_KEY` is set, every `/v1/`
endpoint but `/v1/health` needs `Authorization: Bearer KEY` or `X-API-Key: KEY`
(`ui.api.deps.require_key`), and the web UI asks for the same key on Gradio's login page (any
user name, the key as password), so the UI is no way around the key. `/docs` stays readable (its
"Authorize" button takes the key).

The package translates HTTP to `QAService` and `index` calls and back; it does not retrieve,
answer or read articles by itself, and it holds no state beyond the pipeline it is given
(`create_app(pipeline)`, in `ui.api.app`).
"""

from ui.api.app import create_app

__all__ = ["create_app"]
