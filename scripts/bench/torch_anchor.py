"""PyTorch anchors for posenc's benchmarks, on the same GPU: float32 scaled dot-product
attention (causal), the same with a materialized (H, L, L) ALiBi bias, and an eager
PyTorch FFT implementation of kernelized attention with relative positional encoding
(positive random features, Toeplitz products by FFT). B = 1, H = 8, D = Dv = M = 64.

    python3 scripts/bench/torch_anchor.py [--sizes 1024,4096,16384] [--reps 5] [--json out.json]

Median of --reps runs after 2 warm-up runs, each timed with torch.cuda.synchronize().
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F

H, D, M = 8, 64, 64


def timed(fn, reps):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def alibi_bias(L, device):
    slopes = torch.tensor([2 ** (-8 * (h + 1) / H) for h in range(H)], device=device)
    pos = torch.arange(L, device=device, dtype=torch.float32)
    return -slopes[:, None, None] * (pos[None, :, None] - pos[None, None, :]).abs()  # (H, L, L)


def kernelized_rpe(q, k, v, b, W):
    """z_i = sum_j exp(b_{j-i}) phi(q_i).phi(k_j) v_j / sum_j exp(b_{j-i}) phi(q_i).phi(k_j), causal, by FFT."""
    L = q.shape[2]
    scale = D ** -0.25
    def prf(x, query):
        x = x * scale
        proj = x @ W.T - (x * x).sum(-1, keepdim=True) / 2  # (B, H, L, M)
        stab = proj.amax(-1, keepdim=True) if query else proj.amax(dim=(-1, -2), keepdim=True)
        return torch.exp(proj - stab) / math.sqrt(M)
    pq, pk = prf(q, True), prf(k, False)
    kv = torch.cat([pk[..., :, None] * v[..., None, :], pk[..., :, None]], -1).flatten(-2)  # (B, H, L, M (Dv + 1))
    n = 2 * L
    c = torch.exp(b - b.amax(-1, keepdim=True))  # (H, 2L-1), c[(j-i)+L-1]
    g = torch.zeros(H, n, device=q.device, dtype=q.dtype)
    g[:, :L] = torch.flip(c[:, :L], [-1])  # kernel h[t] = c_{-t}: offsets j - i = 0, -1, ..., -(L-1) (causal)
    y = torch.fft.irfft(torch.fft.rfft(g, n)[None, :, :, None] * torch.fft.rfft(kv, n, dim=2), n, dim=2)[:, :, :L]
    y = y.unflatten(-1, (M, D + 1))
    num = torch.einsum("bhlm,bhlmd->bhld", pq, y[..., :D])
    den = torch.einsum("bhlm,bhlm->bhl", pq, y[..., D])
    return num / den[..., None]


def check_kernelized(dev):
    """The FFT implementation against the dense O(L^2) formula in float64 (L = 37)."""
    L = 37
    g = torch.Generator(device=dev).manual_seed(0)
    q, k, v = (torch.randn(1, H, L, D, device=dev, dtype=torch.float64, generator=g) for _ in range(3))
    W = torch.randn(M, D, device=dev, dtype=torch.float64, generator=g)
    b = 0.3 * torch.randn(H, 2 * L - 1, device=dev, dtype=torch.float64, generator=g)
    phi = lambda x: torch.exp((x * D ** -0.25) @ W.T - (x * D ** -0.25).pow(2).sum(-1, keepdim=True) / 2) / math.sqrt(M)
    i = torch.arange(L, device=dev)
    A = (phi(q) @ phi(k).transpose(-1, -2)) * torch.exp(b[:, (i[None, :] - i[:, None]) + L - 1]) * (i[None, :] <= i[:, None])
    err = (kernelized_rpe(q, k, v, b, W) - (A @ v) / A.sum(-1, keepdim=True)).abs().max().item()
    print(f"kernelized FFT vs dense formula (float64, L={L}): max error {err:.1e}")
    if not err < 1e-9:
        raise SystemExit("kernelized_rpe does not match the formula")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1024,4096,16384")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    check_kernelized(dev)
    rows = []
    for L in [int(s) for s in args.sizes.split(",")]:
        g = torch.Generator(device=dev).manual_seed(L)
        q, k, v = (torch.randn(1, H, L, D, device=dev, generator=g) for _ in range(3))
        row = {"L": L, "gpu": torch.cuda.get_device_name()}
        row["sdpa_causal_ms"] = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), args.reps)
        bias_bytes = H * L * L * 4
        if bias_bytes < 0.4 * torch.cuda.get_device_properties(dev).total_memory:
            causal = torch.full((L, L), float("-inf"), device=dev).triu(1)
            bias = alibi_bias(L, dev) + causal
            row["sdpa_bias_ms"] = timed(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=bias), args.reps)
            del bias, causal
        W = torch.randn(M, D, device=dev, generator=g)
        b = -0.01 * torch.arange(2 * L - 1, device=dev, dtype=torch.float32).sub(L - 1).abs().expand(H, -1).contiguous()
        try:
            row["kernelized_fft_ms"] = timed(lambda: kernelized_rpe(q, k, v, b, W), args.reps)
        except torch.OutOfMemoryError:
            row["kernelized_fft_ms"] = None
        rows.append(row)
        print(json.dumps(row), flush=True)
        torch.cuda.empty_cache()
    print(f"torch {torch.__version__}, float32 (TF32 off), B=1 H={H} D=Dv=M={D}, median of {args.reps}")
    print(f"{'L':>6} {'SDPA causal ms':>15} {'SDPA+bias ms':>13} {'kernelized FFT ms':>18}")
    for r in rows:
        fmt = lambda x: f"{x:.2f}" if x is not None else "-"
        print(f"{r['L']:>6} {fmt(r['sdpa_causal_ms']):>15} {fmt(r.get('sdpa_bias_ms')):>13} {fmt(r.get('kernelized_fft_ms')):>18}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
