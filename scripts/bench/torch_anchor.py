"""PyTorch anchors for posenc's benchmarks, on the same GPU: float32 scaled dot-product
attention (causal), the same with a materialized (H, L, L) ALiBi bias, and an eager
PyTorch FFT implementation of kernelized attention with relative positional encoding
(positive random features, Toeplitz products by FFT). B = 1, H = 8, D = Dv = M = 64.

    python3 scripts/bench/torch_anchor.py [--sizes 1024,4096,16384] [--reps 5]
        [--anchors sdpa_causal,sdpa_bias,kernelized] [--json out.json]

Median of --reps runs after 2 warm-up runs, each timed with torch.cuda.synchronize().
An anchor that cannot run at a size (the bias does not fit, out of memory) is skipped
with its reason; the others still run. `npm run bench` (bench/run.ts) runs this script
and merges its JSON into its own table.

JSON written with --json:
    {"torch": version, "cuda": CUDA version, "gpu": device name, "reps": int, "warmup": 2,
     "dtype": "float32", "tf32": false, "shape": {"B": 1, "H": 8, "D": 64, "M": 64},
     "anchors": [names run],
     "rows": [{"L": int, "gpu": device name,
               "<anchor>_ms": median ms,            (sdpa_causal_ms, sdpa_bias_ms, kernelized_fft_ms)
               "<anchor>_samples_ms": [ms, ...],    every timed run, in order
               "skipped": {"<anchor>": "reason"}}]}
An anchor's "_ms" key is absent when it was skipped (or not asked for).
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F

H, D, M = 8, 64, 64
WARMUP = 2
ANCHORS = ("sdpa_causal", "sdpa_bias", "kernelized")
KEYS = {"sdpa_causal": "sdpa_causal", "sdpa_bias": "sdpa_bias", "kernelized": "kernelized_fft"}


def timed(fn, reps):
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms), ms


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


def anchor(row, name, reps, setup):
    """Times the function that setup() returns under row[<key>_ms]; records why when it cannot run."""
    key = KEYS[name]
    fn = None
    try:
        fn = setup()
        if isinstance(fn, str):
            row["skipped"][name] = fn
            return
        row[f"{key}_ms"], row[f"{key}_samples_ms"] = timed(fn, reps)
    except torch.OutOfMemoryError as err:
        row["skipped"][name] = "out of memory: " + str(err).split("\n")[0][:200]
    finally:
        fn = None  # drops what the closure holds (the bias) before the cache is emptied
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1024,4096,16384")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--anchors", default=",".join(ANCHORS), help="comma-separated subset of " + ", ".join(ANCHORS))
    ap.add_argument("--json")
    args = ap.parse_args()
    anchors = [a for a in args.anchors.split(",") if a]
    unknown = [a for a in anchors if a not in ANCHORS]
    if unknown:
        ap.error(f"unknown anchors {unknown}; choose from {list(ANCHORS)}")
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    gpu = torch.cuda.get_device_name()
    total = torch.cuda.get_device_properties(dev).total_memory
    if "kernelized" in anchors:
        check_kernelized(dev)
    rows = []
    for L in [int(s) for s in args.sizes.split(",")]:
        g = torch.Generator(device=dev).manual_seed(L)
        q, k, v = (torch.randn(1, H, L, D, device=dev, generator=g) for _ in range(3))
        row = {"L": L, "gpu": gpu, "skipped": {}}
        if "sdpa_causal" in anchors:
            anchor(row, "sdpa_causal", args.reps, lambda: lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
        if "sdpa_bias" in anchors:
            def with_bias():
                bias_bytes = H * L * L * 4
                if bias_bytes >= 0.4 * total:
                    return f"the (H, L, L) bias needs {bias_bytes / 1e9:.0f} GB, over 40% of the GPU's {total / 1e9:.0f} GB"
                bias = alibi_bias(L, dev) + torch.full((L, L), float("-inf"), device=dev).triu(1)
                return lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            anchor(row, "sdpa_bias", args.reps, with_bias)
        if "kernelized" in anchors:
            W = torch.randn(M, D, device=dev, generator=g)
            b = -0.01 * torch.arange(2 * L - 1, device=dev, dtype=torch.float32).sub(L - 1).abs().expand(H, -1).contiguous()
            anchor(row, "kernelized", args.reps, lambda: lambda: kernelized_rpe(q, k, v, b, W))
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if not k.endswith("_samples_ms")}), flush=True)
        del q, k, v
        torch.cuda.empty_cache()
    print(f"torch {torch.__version__} on {gpu}, float32 (TF32 off), B=1 H={H} D=Dv=M={D}, median of {args.reps}")
    print(f"{'L':>6} {'SDPA causal ms':>15} {'SDPA+bias ms':>13} {'kernelized FFT ms':>18}")
    for r in rows:
        fmt = lambda key: f"{r[key]:.2f}" if key in r else "-"
        print(f"{r['L']:>6} {fmt('sdpa_causal_ms'):>15} {fmt('sdpa_bias_ms'):>13} {fmt('kernelized_fft_ms'):>18}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "torch": torch.__version__, "cuda": torch.version.cuda, "gpu": gpu, "reps": args.reps, "warmup": WARMUP,
                "dtype": "float32", "tf32": False, "shape": {"B": 1, "H": H, "D": D, "M": M}, "anchors": anchors, "rows": rows,
            }, f, indent=1)


if __name__ == "__main__":
    main()
