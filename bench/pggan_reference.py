#!/usr/bin/env python3
"""PyTorch (Python, eager) implementation of the identical PGGAN and training step as deepzine's
(src/model/nets/pggan.cpp, src/train/step.cpp), timed the same way as bench/train_step_bench.cpp.

Usage: pggan_reference.py [--device cpu|cuda] [--resolutions 16,64] [--batch 16] [--steps 20]
                          [--latent 128] [--max-filter 128] [--reduction-size 128] [--compile]
Runs with Debian's python3-torch 1.13 on the CPU and with PyTorch 2.x on a GPU (--compile: torch.compile).
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F


def filters_at_depth(depth, max_filter, reduction_depth):
    if depth < reduction_depth - 1:
        return max_filter
    return max_filter >> (depth - reduction_depth + 2)


def filters(res, max_filter, reduction_depth):
    return filters_at_depth(max(1, int(math.log2(res)) - 2), max_filter, reduction_depth)


def bias_act(x, b, slope=0.2, pixel_norm=False):
    x = x + b.view(1, -1, *([1] * (x.dim() - 2)))
    if slope != 1.0:
        x = F.leaky_relu(x, slope)
    if pixel_norm:
        x = x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)
    return x


class Conv(torch.nn.Module):
    def __init__(self, cin, cout, k, gain=math.sqrt(2), slope=0.2, pn=False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = torch.nn.Parameter(torch.zeros(cout))
        self.scale, self.slope, self.pn, self.pad = gain / math.sqrt(cin * k * k), slope, pn, k // 2

    def forward(self, x):
        return bias_act(F.conv2d(x, self.weight * self.scale, padding=self.pad), self.bias, self.slope, self.pn)


class Linear(torch.nn.Module):
    def __init__(self, fin, fout, gain=math.sqrt(2), slope=0.2, bias_size=None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(fout, fin))
        self.bias = torch.nn.Parameter(torch.zeros(bias_size or fout))
        self.scale, self.slope, self.per_channel = gain / math.sqrt(fin), slope, bias_size is not None

    def forward(self, x):
        y = x @ (self.weight * self.scale).t()
        return y if self.per_channel else bias_act(y, self.bias, self.slope)


class G(torch.nn.Module):
    def __init__(self, latent, maxf, rd, res, ch=3):
        super().__init__()
        f = lambda r: filters(r, maxf, rd)
        self.f4, self.res = f(4), res
        self.dense = Linear(latent, 16 * self.f4, gain=math.sqrt(2) / 4, bias_size=self.f4)
        self.conv4 = Conv(self.f4, self.f4, 3, pn=True)
        self.blocks = torch.nn.ModuleList()
        r = 8
        while r <= res:
            self.blocks.append(torch.nn.Sequential(Conv(f(r // 2), f(r), 3, pn=True), Conv(f(r), f(r), 3, pn=True)))
            r *= 2
        self.to_rgb = Conv(f(res), ch, 1, gain=1.0, slope=1.0)

    def forward(self, z):
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
        x = bias_act(self.dense(z).view(-1, self.f4, 4, 4), self.dense.bias, 0.2, True)
        x = self.conv4(x)
        for b in self.blocks:
            x = b(F.interpolate(x, scale_factor=2, mode="nearest"))
        return self.to_rgb(x)


def mbstd(x, group=4):
    n, c, h, w = x.shape
    g = min(group, n)
    while n % g:
        g -= 1
    y = x.reshape(g, n // g, c, h, w)
    y = ((y - y.mean(0, keepdim=True)).pow(2).mean(0) + 1e-8).sqrt().mean((1, 2, 3), keepdim=True)
    return torch.cat([x, y.repeat(g, 1, h, w)], 1)


class D(torch.nn.Module):
    def __init__(self, maxf, rd, res, ch=3):
        super().__init__()
        f = lambda r: filters(r, maxf, rd)
        self.f4 = f(4)
        self.from_rgb = Conv(ch, f(res), 1)
        self.blocks = torch.nn.ModuleList()
        r = res
        while r >= 8:
            self.blocks.append(torch.nn.Sequential(Conv(f(r), f(r), 3), Conv(f(r), f(r // 2), 3)))
            r //= 2
        self.final_conv = Conv(self.f4 + 1, self.f4, 3)
        self.final_dense = Linear(16 * self.f4, self.f4)
        self.score = Linear(self.f4, 1, gain=1.0, slope=1.0)

    def forward(self, x):
        x = self.from_rgb(x)
        for b in self.blocks:
            x = F.avg_pool2d(b(x), 2)
        x = self.final_conv(mbstd(x))
        return self.score(self.final_dense(x.flatten(1)))


def step_fn(g, d, ema, og, od, reals, latent):
    b = reals.shape[0]
    with torch.no_grad():
        fakes = g(torch.randn(b, latent, device=reals.device))
    d_real, d_fake = d(reals), d(fakes)
    eps = torch.rand(b, 1, 1, 1, device=reals.device)
    mixed = (eps * reals + (1 - eps) * fakes).detach().requires_grad_(True)
    grad, = torch.autograd.grad(d(mixed).sum(), mixed, create_graph=True)
    gp = (grad.flatten(1).norm(2, 1) - 1).pow(2).mean()
    loss_d = d_fake.mean() - d_real.mean() + 10 * gp + 0.001 * d_real.pow(2).mean()
    od.zero_grad(set_to_none=True)
    loss_d.backward()
    od.step()
    for p in d.parameters():
        p.requires_grad_(False)
    loss_g = -d(g(torch.randn(b, latent, device=reals.device))).mean()
    og.zero_grad(set_to_none=True)
    loss_g.backward()
    og.step()
    for p in d.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), g.parameters()):
            pe.lerp_(p, 0.001)
    return loss_d, loss_g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resolutions", default="16,64")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--latent", type=int, default=128)
    ap.add_argument("--max-filter", type=int, default=128)
    ap.add_argument("--reduction-size", type=int, default=128)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--inference", default="", help="batch sizes, e.g. 1,64: time G forward only (no grad)")
    a = ap.parse_args()
    if a.inference:
        return inference(a)
    rd = int(math.log2(a.reduction_size)) - 1
    dev = torch.device(a.device)
    print(f"pggan_reference.py: PyTorch {torch.__version__} eager{' + torch.compile' if a.compile else ''}, "
          f"device {a.device}, batch {a.batch}, {torch.get_num_threads()} CPU threads")
    print(f"{'res':>6} {'ms/step':>10} {'images/s':>12}")
    for res in [int(r) for r in a.resolutions.split(",")]:
        torch.manual_seed(0)
        g, d, ema = G(a.latent, a.max_filter, rd, res).to(dev), D(a.max_filter, rd, res).to(dev), G(a.latent, a.max_filter, rd, res).to(dev)
        og = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.0, 0.99), eps=1e-8)
        od = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.0, 0.99), eps=1e-8)
        fn = torch.compile(step_fn) if a.compile else step_fn
        reals = torch.rand(a.batch, 3, res, res, device=dev) * 2 - 1
        sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
        for _ in range(3):
            fn(g, d, ema, og, od, reals, a.latent)
        sync()
        times = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            fn(g, d, ema, og, od, reals, a.latent)
            sync()
            times.append(time.perf_counter() - t0)
        med = sorted(times)[len(times) // 2]
        print(f"{res:>6} {med * 1e3:>10.2f} {a.batch / med:>12.1f}")


def inference(a):
    """Images/s of the generator forward, as bench/inference_bench.cpp measures it."""
    rd = int(math.log2(a.reduction_size)) - 1
    dev = torch.device(a.device)
    print(f"pggan_reference.py inference: PyTorch {torch.__version__} eager, device {a.device}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"{'res':>6} {'batch':>6} {'ms/batch':>10} {'images/s':>10}")
    for res in [int(r) for r in a.resolutions.split(",")]:
        torch.manual_seed(0)
        g = G(a.latent, a.max_filter, rd, res).to(dev).eval()
        fn = torch.compile(g) if a.compile else g
        for batch in [int(b) for b in a.inference.split(",")]:
            z = torch.randn(batch, a.latent, device=dev)
            sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
            with torch.no_grad():
                fn(z)
                sync()
                times = []
                for _ in range(a.steps):
                    t0 = time.perf_counter()
                    fn(z)
                    sync()
                    times.append(time.perf_counter() - t0)
            med = sorted(times)[len(times) // 2]
            print(f"{res:>6} {batch:>6} {med * 1e3:>10.2f} {batch / med:>10.1f}")


if __name__ == "__main__":
    main()
