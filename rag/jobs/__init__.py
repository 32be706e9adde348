"""Work that runs beside a server or an ingest, each as `python -m rag.jobs.NAME` on the store
the environment names: the BM25 index rebuilt (`bm25`), named entities tagged (`entities`)."""
