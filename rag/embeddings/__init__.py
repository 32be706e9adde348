"""Embedding models: the shared array-based base (`base`), MiniLM as int8 ONNX (`minilm`), the
static model distilled from it (`static`), and the choice among them and OpenAI (`backends`)."""
