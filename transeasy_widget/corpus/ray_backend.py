"""``backend="ray"``: the same batch reducer on Ray Data actors (one model each), the partials merged on the driver.

Ray is started here only when no cluster is connected (``ray.init()`` on this machine); to use a cluster, connect
first: ``ray.init(address="ray://head:10001")`` or ``ray.init(address="auto")`` on a node of it.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..models import resolve
from .inputs import Item
from .reduce import BatchReducer
from .stats import CorpusStats


class RayReducer:
    """One Ray actor: loads (or receives) the model once, then turns each batch of rows into one saved partial."""

    def __init__(self, model: Any, tokenizer: Any, k: int, misaligned: str, on_mismatch: str, truncate: bool,
                 device: Any, norm: bool):
        if device is None and torch.cuda.is_available():  # the actor was given a GPU
            device = "cuda"
        import ray  # an actor runs inside Ray

        if isinstance(model, ray.ObjectRef):  # the driver's model objects, as their saved files in the store
            model = ray.get(model)
        if isinstance(model, dict):
            self._folder = tempfile.TemporaryDirectory(prefix="transeasy-corpus-")
            model, tokenizer = unpack(model, self._folder.name)
        self.reducer = BatchReducer(resolve(model, tokenizer), k, misaligned, on_mismatch, truncate, device, norm)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        items = [Item.from_dict(json.loads(row)) for row in batch["item"]]
        part = self.reducer(items)
        buffer = io.BytesIO()
        part.save(buffer)
        return {"partial": [buffer.getvalue()]}


def ray_partials(items: list[Item], model: Any, tokenizer: Any, reducer: BatchReducer, batch_size: int,
                 workers: int) -> Iterator[CorpusStats]:
    try:
        import ray
    except ImportError as err:
        raise InputError('backend="ray" needs Ray: pip install "transeasy-widget[ray]".') from err
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be a positive integer, got {workers!r}.")
    if not items:
        return
    if not ray.is_initialized():
        ray.init()
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    if not isinstance(model, (str, type(None))) and not hasattr(model, "__fspath__"):
        # Put in the object store once, not captured in the actors' constructor (Ray warns on a large UDF).
        model, tokenizer = ray.put(pack(reducer.resolved.model, reducer.resolved.tokenizer)), None
    rows = [{"item": json.dumps(item.to_dict())} for item in items]
    ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows) // batch_size, 4 * workers)))
    out = ds.map_batches(
        RayReducer, batch_size=batch_size, batch_format="numpy", num_gpus=gpus,
        compute=ray.data.ActorPoolStrategy(size=workers),
        fn_constructor_kwargs={"model": model, "tokenizer": tokenizer, "k": reducer.k,
                               "misaligned": reducer.misaligned, "on_mismatch": reducer.on_mismatch,
                               "truncate": reducer.truncate, "device": None, "norm": reducer.norm})
    for row in out.iter_rows():
        part = CorpusStats.load(io.BytesIO(row["partial"]))
        part.resolved = reducer.resolved
        yield part


def pack(model: Any, tokenizer: Any) -> dict[str, bytes]:
    """Model and tokenizer objects as the bytes of their saved files: they reach actors on any node of a cluster
    (the objects themselves do not pickle: transformers keeps context variables in them)."""
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(Path(folder, "model"))
        tokenizer.save_pretrained(Path(folder, "tokenizer"))
        return {str(p.relative_to(folder)): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


def unpack(files: dict[str, bytes], folder: str) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    for name, data in files.items():
        path = Path(folder, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return (AutoModel.from_pretrained(Path(folder, "model"), attn_implementation="eager"),
            AutoTokenizer.from_pretrained(Path(folder, "tokenizer")))
