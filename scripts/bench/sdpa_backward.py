"""PyTorch's scaled dot-product attention, forward and backward, for comparison with
posenc's fused forward + backward (`bench/flashAttention.ts --backward`): causal, float32,
TF32 off, q, k, v, dO of shape (B, H, L, D) from a normal draw.

    python3 scripts/bench/sdpa_backward.py --sizes 1024,4096 --batch 8 --heads 8 --dim 64 [--reps 10]

Prints, per L, the median ms of --reps passes (forward, then backward to dq, dk, dv) after
3 warm-up passes, each ended by torch.cuda.synchronize(), and the backend SDPA picked.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1024")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}; B={a.batch} H={a.heads} D={a.dim}, causal, float32")
    for L in (int(s) for s in a.sizes.split(",")):
        g = torch.Generator(device="cuda").manual_seed(L)
        shape = (a.batch, a.heads, L, a.dim)
        q, k, v = (torch.randn(shape, device="cuda", generator=g).requires_grad_() for _ in range(3))
        dO = torch.randn(shape, device="cuda", generator=g)

        def run():
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            torch.autograd.grad(o, (q, k, v), dO)

        for _ in range(3):
            run()
        torch.cuda.synchronize()
        ms = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            run()
            torch.cuda.synchronize()
            ms.append((time.perf_counter() - t0) * 1e3)
        flops = 5 * 2 * a.batch * a.heads * L * L * a.dim / 2
        med = statistics.median(ms)
        print(f"L={L}: forward + backward {med:.3f} ms, {flops / med / 1e9:.2f} TFLOP/s (causal half, 5 products)")


if __name__ == "__main__":
    main()
