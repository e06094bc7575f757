"""TransEasy's own call and names: bertscope.analyzer(sentence) with every attribute of the original."""

from __future__ import annotations

import torch

from tests.test_registry import SEED_NAMES
from transeasy_widget.bert import bertscope


def test_analyzer_exposes_every_original_attribute(minilm_path):
    inst = bertscope.analyzer("an example sentence here", model=minilm_path)
    for name in SEED_NAMES:
        assert getattr(inst, name) is not None, name
    assert inst.sym_tokens[0] == "[CLS]" and inst.sym_seq_len == len(inst.sym_tokens)
    assert inst.selfattn_qkt_scale_soft_hidden.shape == (6, 12, inst.sym_seq_len, inst.sym_seq_len)
    # the original's whole point: the hand-made hidden states equal the pipeline's
    for mine, theirs in zip(inst.manual_hiddens, inst.pipeline_hiddens, strict=True):
        assert torch.allclose(mine, theirs[0], atol=1e-5)
    assert set(SEED_NAMES) <= set(dir(inst))
