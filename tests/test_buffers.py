"""The pool of stage buffers: a dropped trace's memory is reused warm; memory still in use never is."""

from __future__ import annotations

import gc

import pytest
import torch

import transeasy_widget as tw
from transeasy_widget.trace.buffers import HUGE_PAGE, RegionPool

SHAPE = (4, 256, 1024)  # 4 MiB of float32: pooled


def test_a_dropped_tensors_region_is_reused():
    pool = RegionPool()
    a = pool.tensor(SHAPE, torch.float32)
    ptr = a.data_ptr()
    del a
    gc.collect()
    b = pool.tensor(SHAPE, torch.float32)
    assert b.data_ptr() == ptr and b.shape == SHAPE


def test_a_region_is_not_reused_while_a_view_of_it_lives():
    pool = RegionPool()
    a = pool.tensor(SHAPE, torch.float32)
    a.fill_(7.0)
    view = a[1:2, :3]
    del a
    gc.collect()
    b = pool.tensor(SHAPE, torch.float32)
    b.fill_(-1.0)
    assert torch.equal(view, torch.full((1, 3, 1024), 7.0))  # untouched by the new tensor
    assert b.data_ptr() != view.data_ptr() - 1 * 256 * 1024 * 4


def test_numpy_arrays_keep_their_region_too():
    pool = RegionPool()
    a = pool.tensor(SHAPE, torch.float32)
    a.fill_(3.0)
    arr = a.numpy()
    del a
    gc.collect()
    pool.tensor(SHAPE, torch.float32).fill_(0.0)
    assert float(arr.min()) == 3.0


def test_free_regions_beyond_the_cap_are_unmapped_and_release_gives_the_rest_back():
    pool = RegionPool(keep_bytes=HUGE_PAGE * 2)
    tensors = [pool.tensor(SHAPE, torch.float32) for _ in range(3)]  # 3 × 4 MiB
    del tensors
    gc.collect()
    small = pool.tensor((1, HUGE_PAGE // 4), torch.float32)  # a small request reclaims and trims
    assert small.numel() == HUGE_PAGE // 4
    assert pool.pooled_bytes <= HUGE_PAGE * 2
    other = RegionPool()
    kept = other.tensor(SHAPE, torch.float32)
    del kept
    gc.collect()
    assert other.pooled_bytes >= 4 << 20 and other.release() >= 4 << 20 and other.pooled_bytes == 0


def test_a_second_trace_reuses_the_first_ones_memory_and_stays_exact(word_tokenizer):
    from tests.conftest import random_bert

    model = random_bert(2, 4, 128, vocab=len(word_tokenizer), max_pos=512)
    text = " ".join(["the cat sat on the mat because it was tired ."] * 30)
    first = tw.analyze(text, model=model, tokenizer=word_tokenizer, truncate=True)
    ptr = first.trace.selfattn_qkt_hidden.data_ptr()
    expected = first.trace.manual_hiddens.clone()
    del first
    gc.collect()
    second = tw.analyze(text, model=model, tokenizer=word_tokenizer, truncate=True)
    reused = {second.trace[name].data_ptr() for name in ("selfattn_qkt_hidden", "selfattn_qkt_scale_hidden",
                                                          "selfattn_attention")}
    assert ptr in reused
    assert torch.equal(second.trace.manual_hiddens, expected) and second.verify().ok


def test_release_memory_is_public():
    assert isinstance(tw.release_memory(), int)


@pytest.mark.parametrize("device", ["meta"])
def test_non_cpu_devices_use_torch_allocations(device):
    from transeasy_widget.trace.buffers import stage_buffer

    t = stage_buffer((1024, 1024), torch.float32, torch.device(device))
    assert t.device.type == device
