"""Code the tests share that is neither a fixture nor a test: a real `rag serve` process, other
processes (`chroma run`), the local news web site."""
