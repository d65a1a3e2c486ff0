"""The embedded local model: an OpenAI-compatible llama.cpp server on 127.0.0.1."""
