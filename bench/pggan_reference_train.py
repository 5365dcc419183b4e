#!/usr/bin/env python3
"""Progressive training of the PyTorch reference PGGAN (bench/pggan_reference.py's layers) on a
deepzine page file read through h5py: the independent implementation bench/quality compares with.

Karras et al.'s recipe as their code has it (tkarras/progressive_growing_of_gans): WGAN-GP + drift,
Adam lr 1e-3 (beta1 0, beta2 0.99) with its state reset at every stage, nearest-neighbour fade-in of
G's output and of the reals; an EMA generator with a half-life in images and a ramp-up as
StyleGAN2-ADA's (ema_kimg, ema_rampup). Writes N samples of the EMA generator as a float32 .npy
[N, C*R*R] in [-1, 1].

Usage: pggan_reference_train.py PAGES.h5 OUT.npy --resolution 32 --steps-per-stage 400 --batch 16
       --latent 32 --max-filter 32 --reduction-size 1024 --channels 1 --samples 512 --seed 1
Runs with Debian's python3-torch 1.13 (CPU) and PyTorch 2.x.
"""
import argparse
import math
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from pggan_reference import Conv, Linear, bias_act, filters, mbstd


class GrowingG(torch.nn.Module):
    def __init__(self, latent, maxf, rd, res, ch):
        super().__init__()
        f = lambda r: filters(r, maxf, rd)
        self.f4 = f(4)
        self.dense = Linear(latent, 16 * self.f4, gain=math.sqrt(2) / 4, bias_size=self.f4)
        self.conv4 = Conv(self.f4, self.f4, 3, pn=True)
        self.blocks = torch.nn.ModuleDict()
        self.to_rgb = torch.nn.ModuleDict({"4": Conv(self.f4, ch, 1, gain=1.0, slope=1.0)})
        r = 8
        while r <= res:
            self.blocks[str(r)] = torch.nn.Sequential(Conv(f(r // 2), f(r), 3, pn=True), Conv(f(r), f(r), 3, pn=True))
            self.to_rgb[str(r)] = Conv(f(r), ch, 1, gain=1.0, slope=1.0)
            r *= 2

    def forward(self, z, res, alpha=1.0):
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
        x = bias_act(self.dense(z).view(-1, self.f4, 4, 4), self.dense.bias, 0.2, True)
        x = self.conv4(x)
        if res == 4:
            return self.to_rgb["4"](x)
        r = 8
        while r < res:
            x = self.blocks[str(r)](F.interpolate(x, scale_factor=2, mode="nearest"))
            r *= 2
        new = self.to_rgb[str(res)](self.blocks[str(res)](F.interpolate(x, scale_factor=2, mode="nearest")))
        if alpha >= 1.0:
            return new
        old = F.interpolate(self.to_rgb[str(res // 2)](x), scale_factor=2, mode="nearest")
        return old + (new - old) * alpha


class GrowingD(torch.nn.Module):
    def __init__(self, maxf, rd, res, ch):
        super().__init__()
        f = lambda r: filters(r, maxf, rd)
        self.f4 = f(4)
        self.from_rgb = torch.nn.ModuleDict()
        self.blocks = torch.nn.ModuleDict()
        r = 4
        while r <= res:
            self.from_rgb[str(r)] = Conv(ch, f(r), 1)
            if r >= 8:
                self.blocks[str(r)] = torch.nn.Sequential(Conv(f(r), f(r), 3), Conv(f(r), f(r // 2), 3))
            r *= 2
        self.final_conv = Conv(self.f4 + 1, self.f4, 3)
        self.final_dense = Linear(16 * self.f4, self.f4)
        self.score = Linear(self.f4, 1, gain=1.0, slope=1.0)

    def forward(self, img, res, alpha=1.0):
        x = self.from_rgb[str(res)](img)
        if res > 4:
            x = F.avg_pool2d(self.blocks[str(res)](x), 2)
            if alpha < 1.0:
                old = self.from_rgb[str(res // 2)](F.avg_pool2d(img, 2))
                x = old + (x - old) * alpha
            r = res // 2
            while r >= 8:
                x = F.avg_pool2d(self.blocks[str(r)](x), 2)
                r //= 2
        x = self.final_conv(mbstd(x))
        return self.score(self.final_dense(x.flatten(1)))


class Pages:
    """Shuffled batches of one level of the page file, as float [-1, 1] NCHW."""

    def __init__(self, path, res, channels, rng):
        with h5py.File(path, "r") as f:
            pages = f[f"data_{res}"][()]  # the view: [N, R, R, 3] or [N, R, R, 1] uint8
        x = torch.from_numpy(pages.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)
        if channels == 1 and x.shape[1] == 3:
            x = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        self.x, self.rng, self.order, self.pos = x.contiguous(), rng, [], 0

    def batch(self, b):
        idx = []
        while len(idx) < b:
            if self.pos == len(self.order):
                self.order, self.pos = self.rng.permutation(len(self.x)).tolist(), 0
            idx.append(self.order[self.pos])
            self.pos += 1
        return self.x[idx]


def stages(res, steps):
    out, r = [(4, False)], 8
    while r <= res:
        out += [(r, True), (r, False)]
        r *= 2
    return [(r, t, steps) for r, t in out]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pages")
    ap.add_argument("out")
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--steps-per-stage", type=int, default=400)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--max-filter", type=int, default=32)
    ap.add_argument("--reduction-size", type=int, default=1024)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema-kimg", type=float, default=10.0)
    ap.add_argument("--ema-rampup", type=float, default=0.05)
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.RandomState(a.seed)
    rd = int(math.log2(a.reduction_size)) - 1
    g = GrowingG(a.latent, a.max_filter, rd, a.resolution, a.channels)
    d = GrowingD(a.max_filter, rd, a.resolution, a.channels)
    ema = GrowingG(a.latent, a.max_filter, rd, a.resolution, a.channels)
    ema.load_state_dict(g.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    t0 = time.perf_counter()
    images_at_res, prev_res = 0, 0
    for res, transition, steps in stages(a.resolution, a.steps_per_stage):
        data = Pages(a.pages, res, a.channels, rng)
        og = torch.optim.Adam(g.parameters(), lr=a.lr, betas=(0.0, 0.99), eps=1e-8)  # reset every stage
        od = torch.optim.Adam(d.parameters(), lr=a.lr, betas=(0.0, 0.99), eps=1e-8)
        if res != prev_res:
            images_at_res, prev_res = 0, res
        for step in range(steps):
            alpha = step / steps if transition else 1.0
            reals = data.batch(a.batch)
            if transition:
                low = F.interpolate(F.avg_pool2d(reals, 2), scale_factor=2, mode="nearest")
                reals = low + (reals - low) * alpha
            b = reals.shape[0]
            with torch.no_grad():
                fakes = g(torch.randn(b, a.latent), res, alpha)
            d_real, d_fake = d(reals, res, alpha), d(fakes, res, alpha)
            eps = torch.rand(b, 1, 1, 1)
            mixed = (eps * reals + (1 - eps) * fakes).detach().requires_grad_(True)
            grad, = torch.autograd.grad(d(mixed, res, alpha).sum(), mixed, create_graph=True)
            gp = (grad.flatten(1).norm(2, 1) - 1).pow(2).mean()
            loss_d = d_fake.mean() - d_real.mean() + 10 * gp + 0.001 * d_real.pow(2).mean()
            od.zero_grad(set_to_none=True)
            loss_d.backward()
            od.step()
            for p in d.parameters():
                p.requires_grad_(False)
            loss_g = -d(g(torch.randn(b, a.latent), res, alpha), res, alpha).mean()
            og.zero_grad(set_to_none=True)
            loss_g.backward()
            og.step()
            for p in d.parameters():
                p.requires_grad_(True)
            images_at_res += b
            half_life = min(a.ema_kimg * 1000, a.ema_rampup * images_at_res) if a.ema_rampup else a.ema_kimg * 1000
            beta = 0.5 ** (b / max(half_life, 1e-8))
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), g.parameters()):
                    pe.copy_(p.lerp(pe, beta))
        print(f"stage {res}{'_Transition' if transition else ''}: D {loss_d.item():.3f} G {loss_g.item():.3f} "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    with torch.no_grad():
        z = torch.randn(a.samples, a.latent, generator=torch.Generator().manual_seed(a.seed + 7))
        out = torch.cat([ema(z[i:i + 64], a.resolution) for i in range(0, a.samples, 64)])
    np.save(a.out, out.reshape(a.samples, -1).numpy().astype(np.float32))
    print(f"pggan_reference_train.py: {a.samples} samples of {a.resolution}x{a.resolution} in {a.out}; "
          f"training {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
