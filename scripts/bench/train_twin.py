"""PyTorch twin of posenc's language-model training step, for `npm run bench -- --train`
(bench/train.ts runs it on the same GPU before posenc starts its WebGPU device).

The model is posenc's lab LM (src/lab/lmRun.ts `labLM`, src/nn/lm.ts): token embedding
(std 0.02), pre-norm blocks (LayerNorm eps 1e-5 with affine parameters; q, k, v and output
projections with biases; RoPE "halves" with base 10000 on q and k; causal softmax attention
by F.scaled_dot_product_attention; a GELU (erf) MLP of 4x the width with biases), a final
LayerNorm and the tied embedding as the head; masked mean cross-entropy. AdamW (betas 0.9,
0.99, eps 1e-8, weight decay 0.01 on matrices only), gradient clipping to global norm 1,
lr 1e-3, eager float32, TF32 off, and `loss.item()` every step, as posenc's trainer reads
the loss every step.

    python3 scripts/bench/train_twin.py --rows 64x2x4:16:32,128x2x8:64:32 [--vocab 256]
        [--steps 10] [--warmup 3] [--json out.json]

A row is width x depth x heads : L : batch. Median ms per step of --steps timed steps after
--warmup steps, each step ended by loss.item() (which synchronizes). JSON written with --json:
    {"torch": version, "cuda": CUDA version, "gpu": name, "vocab": int, "steps": int,
     "warmup": int, "rows": [{"row": "64x2x4:16:32", "ms": median, "samples_ms": [...],
     "loss0": first step's loss} | {"row": ..., "skipped": reason}]}
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def rope_tables(L, D, device):
    inv = 1.0 / (10000.0 ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().float().to(device), ang.sin().float().to(device)


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rot * sin


class Block(torch.nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.norm1 = torch.nn.LayerNorm(C, eps=1e-5)
        self.qkv = torch.nn.Linear(C, 3 * C)
        self.proj = torch.nn.Linear(C, C)
        self.norm2 = torch.nn.LayerNorm(C, eps=1e-5)
        self.fc = torch.nn.Linear(C, 4 * C)
        self.out = torch.nn.Linear(4 * C, C)

    def forward(self, x, cos, sin):
        B, L, C = x.shape
        D = C // self.H
        qkv = self.qkv(self.norm1(x)).view(B, L, 3, self.H, D).permute(2, 0, 3, 1, 4)  # (3, B, H, L, D)
        q, k, v = rotate(qkv[0], cos, sin), rotate(qkv[1], cos, sin), qkv[2]
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, L, D)
        x = x + self.proj(o.transpose(1, 2).reshape(B, L, C))
        return x + self.out(F.gelu(self.fc(self.norm2(x))))


class LM(torch.nn.Module):
    def __init__(self, V, C, depth, H):
        super().__init__()
        self.embed = torch.nn.Embedding(V, C)
        torch.nn.init.normal_(self.embed.weight, std=0.02)
        self.blocks = torch.nn.ModuleList([Block(C, H) for _ in range(depth)])
        self.normF = torch.nn.LayerNorm(C, eps=1e-5)

    def forward(self, tokens, cos, sin):
        x = self.embed(tokens)
        for b in self.blocks:
            x = b(x, cos, sin)
        return self.normF(x) @ self.embed.weight.T  # (B, L, V)


def run_row(spec, vocab, steps, warmup, device):
    size, L, batch = spec.split(":")
    C, depth, H = (int(n) for n in size.split("x"))
    L, batch = int(L), int(batch)
    torch.manual_seed(0)
    model = LM(vocab, C, depth, H).to(device)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    other = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.99), eps=1e-8
    )
    cos, sin = rope_tables(L, C // H, device)
    g = torch.Generator(device="cpu").manual_seed(1)
    tokens = torch.randint(0, vocab, (batch, L), generator=g).to(device)
    targets = torch.randint(0, vocab, (batch, L), generator=g).to(device)

    def step():
        logits = model(tokens, cos, sin)
        loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    loss0 = step()
    for _ in range(warmup - 1):
        step()
    ms = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"row": spec, "ms": statistics.median(ms), "samples_ms": ms, "loss0": loss0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", required=True)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda")
    rows = []
    for spec in a.rows.split(","):
        try:
            rows.append(run_row(spec, a.vocab, a.steps, max(1, a.warmup), device))
        except Exception as e:  # noqa: BLE001 - one row's failure is reported, the others still run
            rows.append({"row": spec, "skipped": f"{type(e).__name__}: {e}"[:300]})
        print(json.dumps(rows[-1] if "skipped" in rows[-1] else {"row": spec, "ms": round(rows[-1]["ms"], 3)}), flush=True)
    report = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0),
        "vocab": a.vocab,
        "steps": a.steps,
        "warmup": a.warmup,
        "rows": rows,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f)


if __name__ == "__main__":
    main()
