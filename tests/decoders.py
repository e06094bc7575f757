"""Independent decoders of the widget's binary payloads, written from the formats' definitions (IEEE 754 half
precision, docs/PROTOCOL.md), so that tests check the encoders against something other than themselves."""

from __future__ import annotations

import numpy as np


def f16(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Little-endian IEEE 754 binary16 → float64, from the bits: (-1)^s · 2^(e-15) · (1 + f/1024), subnormals
    2^-14 · f/1024, e = 31 infinities and NaN."""
    bits = np.frombuffer(data, dtype="<u2").astype(np.int64)
    sign = np.where(bits >> 15, -1.0, 1.0)
    exponent, fraction = (bits >> 10) & 0x1F, (bits & 0x3FF).astype(np.float64)
    normal = sign * np.exp2(exponent - 15.0) * (1 + fraction / 1024)
    subnormal = sign * 2.0 ** -14 * fraction / 1024
    special = np.where(fraction == 0, sign * np.inf, np.nan)
    out = np.where(exponent == 0, subnormal, np.where(exponent == 31, special, normal))
    return out.reshape(shape)


def f32(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Little-endian IEEE 754 binary32 (the row view's buffer)."""
    return np.frombuffer(data, dtype="<f4").astype(np.float64).reshape(shape)


def u8_thumbnails(data: bytes, shape: tuple[int, ...], vmax: float) -> np.ndarray:
    """The overview's uint8 thumbnails: one scale for every head, 255 = vmax."""
    return (np.frombuffer(data, dtype=np.uint8).astype(np.float64) / 255.0 * vmax).reshape(shape)
