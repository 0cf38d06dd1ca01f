/**
 * A key/value cache for token-by-token decoding. Keys are stored before any
 * rotary embedding: `attention` rotates them at every step with the
 * frequencies of the current length, so decoding step t equals the last row
 * of a full causal forward over tokens 0..t for every positional encoding,
 * including dynamic NTK and LongRoPE, whose frequencies depend on the length.
 * (transformers caches rotated keys instead, so its cached keys keep the
 * frequencies of the step that produced them.)
 *
 *   const cache = new KVCache({ maxLength: 4096 });
 *   const { keys, values, offset } = cache.append(k_t, v_t);       // (B, Hkv, t+1, D)
 *   const out = attention(q_t, keys, values, { causal: true, queryOffset: offset, pe });
 */
import { numpy as np } from "@jax-js/jax";
import { fail } from "../core/validate.js";

export class KVCache {
  readonly maxLength: number;
  #keys: np.Array | null = null;
  #values: np.Array | null = null;

  constructor(options: { maxLength: number }) {
    const n = options?.maxLength;
    if (!Number.isInteger(n) || n < 1) fail("KVCache", `options.maxLength must be an integer >= 1, got ${n}`);
    this.maxLength = n;
  }

  /** Number of cached positions. */
  get length(): number {
    return this.#keys?.shape[2] ?? 0;
  }

  /**
   * Appends k (B, Hkv, l, D) and v (B, Hkv, l, Dv), consuming them; returns
   * the whole cache (new references the caller owns) and the index of the
   * first appended position.
   */
  append(k: np.Array, v: np.Array): { keys: np.Array; values: np.Array; offset: number } {
    const offset = this.length;
    const l = k.shape[2];
    const bad = (message: string): never => {
      k.dispose();
      v.dispose();
      return fail("KVCache.append", message);
    };
    if (k.ndim !== 4 || v.ndim !== 4 || v.shape[2] !== l || v.shape[0] !== k.shape[0] || v.shape[1] !== k.shape[1]) {
      bad(`k and v must be (B, Hkv, l, D) and (B, Hkv, l, Dv), got (${k.shape.join(", ")}) and (${v.shape.join(", ")})`);
    }
    if (this.#keys && (k.shape[0] !== this.#keys.shape[0] || k.shape[1] !== this.#keys.shape[1] || k.shape[3] !== this.#keys.shape[3])) {
      bad(`k (${k.shape.join(", ")}) does not match the cached keys (${this.#keys.shape.join(", ")})`);
    }
    if (offset + l > this.maxLength) bad(`appending ${l} positions to ${offset} exceeds maxLength ${this.maxLength}`);
    this.#keys = this.#keys ? np.concatenate([this.#keys, k], 2) : k;
    this.#values = this.#values ? np.concatenate([this.#values, v], 2) : v;
    return { keys: this.#keys.ref, values: (this.#values as np.Array).ref, offset };
  }

  /** Frees the cached arrays. */
  dispose(): void {
    this.#keys?.dispose();
    this.#values?.dispose();
    this.#keys = this.#values = null;
  }
}
