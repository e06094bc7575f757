// Decoding of the binary payloads: float16 through a lookup table, uint8 thumbnails with a scale.

let halfTable: Float32Array | null = null;

/** The float32 value of one IEEE 754 half-precision bit pattern. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** A table of all 65536 half-precision values, built once on first use. */
export function halfTableF32(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) table[bits] = halfToFloat(bits);
  halfTable = table;
  return table;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A private, aligned copy of the bytes of a buffer as delivered (DataView, typed array, ArrayBuffer). */
export function copyBytes(buffer: unknown): ArrayBuffer {
  if (buffer instanceof ArrayBuffer) return buffer.slice(0);
  if (ArrayBuffer.isView(buffer)) {
    const source = buffer.buffer as ArrayBuffer;
    return source.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
  }
  throw new TypeError("expected an ArrayBuffer, a DataView or a typed array");
}

/** The raw float16 bit patterns of a little-endian buffer. */
export function float16Bits(buffer: unknown): Uint16Array {
  const bytes = copyBytes(buffer);
  if (bytes.byteLength % 2 !== 0) throw new RangeError("a float16 buffer has an even byte length");
  const bits = new Uint16Array(bytes);
  if (!littleEndian) {
    const view = new DataView(bytes);
    for (let i = 0; i < bits.length; i++) bits[i] = view.getUint16(i * 2, true);
  }
  return bits;
}

/** Little-endian float16 bytes decoded to float32. */
export function decodeFloat16(buffer: unknown): Float32Array {
  const bits = float16Bits(buffer);
  const table = halfTableF32();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/** Little-endian float32 bytes (the row reply). */
export function decodeFloat32(buffer: unknown): Float32Array {
  const bytes = copyBytes(buffer);
  if (bytes.byteLength % 4 !== 0) throw new RangeError("a float32 buffer has a byte length divisible by 4");
  if (littleEndian) return new Float32Array(bytes);
  const view = new DataView(bytes);
  const out = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** The product of a shape's dimensions. */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes of a base64 string. */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A zlib stream (Python's zlib.compress) undone by the browser's own DecompressionStream. */
export async function inflate(bytes: Uint8Array): Promise<ArrayBuffer> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Response(stream).arrayBuffer();
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Half-precision bit patterns of float32 values (round to nearest even; NaN and infinities kept). */
export function toHalfBits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfBitsOf(bits[i]!);
  return out;
}

/** The half-precision bits of one float32 bit pattern. */
export function halfBitsOf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** The half-precision bits of one number. */
export function halfBits(value: number): number {
  f32[0] = value;
  return halfBitsOf(u32[0]!);
}
