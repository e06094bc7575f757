// The `lens` reply (docs/PROTOCOL.md): the logit lens's top-k tokens and probabilities, decoded for the panel.

import { copyBytes } from "./codec";
import { ProtocolError } from "./client";
import type { ReplyContent } from "./types";

export interface LensLike {
  kind: string;
  k: number;
  /** Row labels: "emb", then each layer ("0", "1", …). */
  rows: string[];
  /** Positions. */
  n: number;
  /** The distinct token strings; `ids` index them. */
  vocab: string[];
  /** rows × n × k, most likely first. */
  ids: Uint32Array;
  probs: Float32Array;
}

export function readLensReply(content: ReplyContent | Record<string, unknown>, buffers: unknown[]): LensLike {
  const shape = Array.isArray(content.shape) ? (content.shape as number[]).map(Number) : [];
  if (shape.length !== 3 || buffers.length < 2) throw new ProtocolError("a lens reply has shape [rows, n, k] and two buffers");
  const [rows, n, k] = shape as [number, number, number];
  const ids = new Uint32Array(copyBytes(buffers[0]));
  const probs = new Float32Array(copyBytes(buffers[1]));
  if (ids.length !== rows * n * k || probs.length !== rows * n * k) {
    throw new ProtocolError(`lens buffers hold ${ids.length} and ${probs.length} values, shape says ${rows * n * k}`);
  }
  const vocab = Array.isArray(content.vocab) ? content.vocab.map(String) : [];
  const labels = Array.isArray(content.rows) ? content.rows.map(String) : [];
  return { kind: String(content.kind ?? "token"), k, rows: labels, n, vocab, ids, probs };
}
