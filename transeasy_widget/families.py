"""The model families traced, by ``model_type``: one list that model resolution (models.py) and the trace read."""

from __future__ import annotations

SUPPORTED: tuple[str, ...] = ("bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra",
                              "gpt2", "llama", "mistral", "qwen2", "qwen3")
