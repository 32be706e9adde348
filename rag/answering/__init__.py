"""Answers from passages: the `Answer` and its citation checks (`answer`), the backend registry
(`backends`), the extractive answerer (`extractive`), LLM answers checked against the passages
(`generated`), the LLM client (`llm`) and the local llama.cpp server (`llamacpp`)."""
