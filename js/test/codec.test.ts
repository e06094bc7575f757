import { describe, expect, it } from "vitest";
import { copyBytes, decodeFloat16, decodeFloat32, float16Bits, halfTableF32, halfToFloat } from "../codec";
import { floatToHalf, halfBuffer } from "./fakeModel";

function bytesOf(...bits: number[]): Uint8Array {
  const out = new Uint8Array(bits.length * 2);
  bits.forEach((b, i) => {
    out[i * 2] = b & 0xff;
    out[i * 2 + 1] = b >> 8;
  });
  return out;
}

describe("float16", () => {
  it("decodes the known bit patterns", () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.33325, 5);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
  });

  it("decodes subnormals, infinities and NaN", () => {
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x03ff)).toBe(1023 * 2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(halfToFloat(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
  });

  it("uses a table equal to the direct decoding for every pattern", () => {
    const table = halfTableF32();
    expect(table.length).toBe(65536);
    for (const bits of [0, 1, 0x3c00, 0xc000, 0x03ff, 0x0400, 0x7bff, 0xfbff]) expect(table[bits]).toBe(halfToFloat(bits));
  });

  it("decodes a little-endian buffer delivered as an unaligned DataView", () => {
    const payload = bytesOf(0x3c00, 0xc000, 0x0001, 0x7c00);
    const padded = new Uint8Array(payload.length + 1);
    padded.set(payload, 1); // odd offset: a Uint16Array straight on it would throw
    const view = new DataView(padded.buffer, 1, payload.length);
    expect(Array.from(decodeFloat16(view))).toEqual([1, -2, 2 ** -24, Number.POSITIVE_INFINITY]);
  });

  it("round-trips the test encoder", () => {
    const values = [0, 0.5, 0.1, -3.25, 1e-6, 70000];
    const decoded = decodeFloat16(halfBuffer(values));
    expect(decoded[1]).toBe(0.5);
    expect(decoded[2]).toBeCloseTo(0.1, 3);
    expect(decoded[3]).toBe(-3.25);
    expect(decoded[4]).toBeCloseTo(1e-6, 7);
    expect(decoded[5]).toBe(Number.POSITIVE_INFINITY);
    expect(floatToHalf(1)).toBe(0x3c00);
  });

  it("rejects an odd byte count", () => {
    expect(() => float16Bits(new Uint8Array(3))).toThrow(RangeError);
  });

  it("copies rather than aliasing the delivered buffer", () => {
    const source = new Uint8Array([1, 2, 3, 4]);
    const copy = new Uint8Array(copyBytes(new DataView(source.buffer, 1, 2)));
    source[1] = 99;
    expect(Array.from(copy)).toEqual([2, 3]);
  });
});

describe("float32", () => {
  it("decodes little-endian float32 from a DataView at an odd offset", () => {
    const bytes = new Uint8Array(1 + 12);
    const view = new DataView(bytes.buffer, 1, 12);
    [1.5, -2.25, 3e-8].forEach((v, i) => view.setFloat32(i * 4, v, true));
    const out = decodeFloat32(view);
    expect([...out]).toEqual([1.5, -2.25, Math.fround(3e-8)]);
  });
});
