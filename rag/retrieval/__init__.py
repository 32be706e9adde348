"""Finding passages: dense search over Chroma (`dense`), BM25 (`bm25`), weighted rank fusion
(`fusion`), syndicated copies folded (`syndication`), and the hybrid retriever that wires them
(`hybrid`). Nothing here writes the index or answers."""
