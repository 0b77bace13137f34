"""GAN benchmark: sample quality and training speed of mediatk's GANs beside a reference DCGAN.

Fashion-MNIST (train split for training, test split as FID/KID reference), one process, fixed budget:

* ``dcgan`` (transposed-conv and sub-pixel up-sampling), ``wgan-gp`` and ``vae``, trained through mediatk's
  engine for a fixed number of generator steps at batch 64;
* a reference DCGAN written to pytorch/examples' recipe (``dcgan/main.py``: BCELoss on a sigmoid output
  (the sigmoid and loss in float32 under bf16 autocast: in bfloat16 the sigmoid saturates to exactly 1),
  Adam 2e-4 β (0.5, 0.999), one D step on real + fake then one G step reusing the fakes, N(0, 0.02) init)
  as a plain loop in this file, with the same layer sizes as mediatk's ``dcgan --upsample transpose``
  and the same budget and batches.  "vs ref" is mediatk's training images/s over the reference's: the
  figure for the engine's overhead.

Images/s = generator steps × batch / seconds, timed from step 10 to the end (start-up, the first steps and
the final checkpoint excluded); a wgan-gp generator step includes its 5 critic steps.  FID/KID use the
dataset's frozen feature net (:mod:`mediatk.evaluation.feature_nets`: a small CNN classifier trained on Fashion-MNIST
train with the fixed ``standard`` recipe; its id is in the table), n generated images against n real test
images; FID comes with a 95% bootstrap interval over the generated images, attribute accuracies with Wilson
intervals.  ``--spread`` also scores the saved Fashion-MNIST fakes under feature nets with seeds 0, 1, 2
(``fid_spread.spread_markdown``).  On ``celeba-genki-smiling``: ``cgan --attr
smiling`` with its attribute accuracy both ways (judge CNN trained on the real train split; a second judge with
another seed scores the last and the best checkpoint, since the first one chose the best; the best is chosen
on the val split, every reported figure is on test) and a sample
grid (top row asked to smile, bottom row not, same noise) under ``bench/results/``.

    nice uv run python bench/gan_bench.py        # CPU (defaults: ≈10 min for Fashion-MNIST + ≈25 min cgan, 2 cores)
    uv run python bench/gan_bench.py --device cuda --image-size 64 --width 64 --steps 1000 --wgan-steps 300 \
        --n-eval 5000 --cgan-steps 6000 --cgan-evals 12 --threads 16   # GPU (≈6 min on an H100)

Results: ``bench/results/gans.md`` (CPU) or ``gans_cuda.md``, plus ``.json`` and sample grids.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch
from mediatk.core.metrics import fmt_ci
from mediatk.core.options import parse_options
from mediatk.core.registry import GENERATORS
from mediatk.core.runs import RunDir
from mediatk.core.runtime import Precision, describe_machine, resolve_device
from mediatk.datasets import load_images
from mediatk.evaluation.quality import QualityEvaluator
from mediatk.generators import from_checkpoint
from mediatk.generators.engine import Feed, TrainConfig, fit
from mediatk.generators.gan_nets import init_dcgan, spatial_plan
from mediatk.media.draw import save_grid
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results"


def reference_nets(nz: int, ngf: int, ndf: int, nc: int, size: int) -> tuple[nn.Module, nn.Module]:
    """pytorch/examples' netG/netD, with as many ×2 stages as the image size needs (4 for 64 px, 3 for 32)."""
    start, n = spatial_plan(size)
    ch = ngf * 2 ** (n - 1)
    g: list[nn.Module] = [nn.ConvTranspose2d(nz, ch, start, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
    for _ in range(n - 1):
        g += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
        ch //= 2
    g += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
    d: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    ch = ndf
    for _ in range(n - 1):
        d += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
        ch *= 2
    d += [nn.Conv2d(ch, 1, start, 1, 0, bias=False)]  # the recipe's nn.Sigmoid is applied in float32 below
    netG, netD = nn.Sequential(*g), nn.Sequential(*d)
    netG.apply(init_dcgan)
    netD.apply(init_dcgan)
    return netG, netD


def train_reference(images: torch.Tensor, steps: int, batch: int, nz: int, width: int, device: torch.device,
                    seed: int) -> tuple[nn.Module, float, float]:
    """The pytorch/examples DCGAN loop; returns (netG, images/s from step 10 on, total seconds)."""
    torch.manual_seed(seed)
    netG, netD = (m.to(device) for m in reference_nets(nz, width, width, images.shape[1], images.shape[2]))
    crit = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    prec = Precision.for_device(device)
    feed = Feed(images, torch.zeros(len(images)), batch, seed=seed)  # the same batches as the engine sees
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    t10 = t0
    for i in range(steps):
        if i == 10:
            sync()
            t10 = time.perf_counter()
        real = feed.next()[0].to(device, non_blocking=True)
        b = real.shape[0]
        ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
        netD.zero_grad()
        with prec.autocast(device):
            out_real = netD(real).view(-1)
            fake = netG(torch.randn(b, nz, 1, 1, device=device))
            out_fake = netD(fake.detach()).view(-1)
        # sigmoid + BCELoss as the recipe, in float32: a bfloat16 sigmoid rounds to exactly 1.0 and stalls D
        (crit(torch.sigmoid(out_real.float()), ones) + crit(torch.sigmoid(out_fake.float()), zeros)).backward()
        optD.step()
        netG.zero_grad()
        with prec.autocast(device):
            out = netD(fake).view(-1)
        crit(torch.sigmoid(out.float()), ones).backward()
        optG.step()
    sync()
    t1 = time.perf_counter()
    return netG, (steps - 10) * batch / max(t1 - t10, 1e-9), t1 - t0


class Reference(nn.Module):
    """Adapter so the quality evaluator can sample the reference generator."""

    needs, attr_names, cond_dim, num_classes = "images", (), 0, 0
    can_sample, name = True, "reference-dcgan"  # what the one sampler (generators.sampling.sample_images) asks

    def __init__(self, netG: nn.Module, nz: int, shape: tuple[int, int, int]):
        super().__init__()
        self.G, self.nz, self.image_shape = netG, nz, shape

    def sample_noise(self, n, gen=None):
        return torch.randn(n, self.nz, generator=gen)

    def sample(self, n, cond=None, noise=None):
        return self.G(noise.view(len(noise), self.nz, 1, 1))


def run_model(name: str, opts: list[str], images, targets, steps: int, a, dev, tmp: Path, attrs=(),
              **evaluation) -> tuple:
    """Train through mediatk's engine; returns (model, images/s from step 10, total seconds, result)."""
    cls = GENERATORS.get(name)
    model = cls(tuple(images.shape[1:]), parse_options(cls.Config, opts), attr_names=tuple(attrs))
    ev = evaluation.pop("evaluator", None)
    tc = TrainConfig(steps=steps, batch_size=a.batch_size, device=str(dev), seed=a.seed, progress=False,
                     log_every=10, ckpt_every=10**9, n_preview=16, **evaluation)
    run = RunDir(tmp / f"{name}-{len(os.listdir(tmp))}")
    res = fit(model, Feed(images, targets, a.batch_size, seed=a.seed), run, tc, evaluator=ev)
    h = [r for r in res.history if "time" in r]
    rate = (h[-1]["step"] - h[0]["step"]) * a.batch_size / max(h[-1]["time"] - h[0]["time"], 1e-9)
    return from_checkpoint(res.last_checkpoint, device=dev), rate, res.seconds, res


def log(s: str) -> None:
    print(s, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=int, default=32, help="ngf = ndf (32 on CPU to fit the budget; 64 = DCGAN)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=200, help="generator steps for dcgan, reference and vae")
    p.add_argument("--wgan-steps", type=int, default=40, help="generator steps for wgan-gp (5 critic steps each)")
    p.add_argument("--n-eval", type=int, default=1000, help="generated and real test images for FID/KID")
    p.add_argument("--feature-net", default="standard", help="feature net recipe (test-tiny: smoke runs only)")
    p.add_argument("--spread", action="store_true", help="FID of the fakes under feature nets of seeds 0, 1, 2")
    p.add_argument("--cgan-steps", type=int, default=8000)
    p.add_argument("--cgan-size", type=int, default=None, help="default: --image-size")
    p.add_argument("--cgan-options", default="--aux-classifier --aux-weight 2", help="extra cgan options")
    p.add_argument("--cgan-evals", type=int, default=16, help="evaluations during cgan training")
    p.add_argument("--cgan-ema", type=float, default=0.999, help="EMA decay of the cgan weights (0: none)")
    p.add_argument("--judge-steps", type=int, default=2000, help="training steps of each attribute judge")
    p.add_argument("--skip-celeba", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    dev = resolve_device(a.device)
    if dev.type == "cpu":
        torch.set_num_threads(a.threads)
    else:
        torch.backends.cudnn.benchmark = True  # as pytorch/examples does; for both contestants
    os.environ.setdefault("MEDIATK_OFFLINE", "1")
    RESULTS.mkdir(parents=True, exist_ok=True)
    tag = "" if dev.type == "cpu" else f"_{dev.type}"
    tmp = Path(tempfile.mkdtemp(prefix="gan_bench_"))
    t_all = time.perf_counter()
    train = load_images("fashion-mnist", split="train", image_size=a.image_size)
    x, y = train.tensor(), train.labels.long()
    w = ["--g-width", str(a.width), "--d-width", str(a.width)]
    ev = QualityEvaluator("fashion-mnist", n=a.n_eval, feature_net=a.feature_net, seed=a.seed, log=log)
    fakes: dict[str, torch.Tensor] = {}  # the evaluated samples, for --spread
    torch.optim.Adam([nn.Parameter(torch.zeros(1))])  # pay torch's one-time optimiser imports before timing
    rows = []
    # the reference runs first and last (timings drift on a shared machine); "vs ref" uses the mean of both
    plan = [("reference DCGAN (pytorch/examples)", None, [], a.steps, "reference"),
            ("dcgan --upsample transpose", "dcgan", w, a.steps, "dcgan_transpose"),
            ("dcgan --upsample subpixel", "dcgan", w + ["--upsample", "subpixel"], a.steps, "dcgan_subpixel"),
            ("wgan-gp", "wgan-gp", w, a.wgan_steps, "wgan_gp"),
            ("vae (conv)", "vae", [], a.steps, "vae"),
            ("reference DCGAN, again", None, [], a.steps, "reference2")]
    for label, name, opts, steps, file in plan:
        log(f"== {label}: {steps} steps")
        if name is None:
            g, rate, secs = train_reference(x, steps, a.batch_size, 100, a.width, dev, a.seed)
            model = Reference(g, 100, tuple(x.shape[1:])).to(dev).eval()
        else:
            model, rate, secs, _ = run_model(name, opts, x, y, steps, a, dev, tmp)
        q = ev(model)
        if a.spread:
            fakes[label] = ev._samples(model, a.n_eval, None, torch.Generator().manual_seed(a.seed + 1))
        with torch.no_grad():
            grid = model.sample(64, noise=model.sample_noise(64, torch.Generator().manual_seed(a.seed)).to(dev))
        save_grid(grid.float().clamp(-1, 1).cpu(), RESULTS / f"fmnist_{file}{tag}.png")
        rows.append({"model": label, "steps": steps, "seconds": round(secs, 1), "img_s": round(rate, 1),
                     "reference": name is None, "fid": round(q["fid"], 3), "kid": round(q["kid"], 5),
                     "fid_ci": [round(q["fid_lo"], 3), round(q["fid_hi"], 3)], "feature_id": ev.feature_id,
                     "kid_std": round(q["kid_std"], 5)})
        log(json.dumps(rows[-1]))
    ref_rate = sum(r["img_s"] for r in rows if r["reference"]) / 2
    for r in rows:
        r["vs_ref"] = None if r["reference"] else round(r["img_s"] / ref_rate, 3)
    fm_lines = list(ev.lines)

    celeba: dict = {}
    if not a.skip_celeba:
        size = a.cgan_size or a.image_size
        copts = w + shlex.split(a.cgan_options)
        log(f"== cgan --attr smiling {' '.join(copts)} on celeba-genki-smiling, {a.cgan_steps} steps at {size} px")
        cs = load_images("celeba-genki-smiling", split="train", image_size=size, attrs=["smiling"])
        # checkpoints are chosen on the val split; the figures reported below come from the test split
        cev = QualityEvaluator("celeba-genki-smiling", n=min(a.n_eval, 1000), feature_net=a.feature_net,
                               seed=a.seed, judge_steps=a.judge_steps, log=log, split="val")
        every = max(1, a.cgan_steps // a.cgan_evals)
        model, rate, secs, res = run_model("cgan", copts, cs.tensor(), cs.attrs.float(), a.cgan_steps, a, dev, tmp,
                                           attrs=cs.attr_names, evaluator=cev, eval_every=every,
                                           best_metric="attr_acc:max", ema=a.cgan_ema or None)
        evals = [r for r in res.history if "eval/fid" in r]
        trail = [(r["step"], round(r["eval/attr_Smiling=1"], 3), round(r["eval/attr_Smiling=0"], 3),
                  round(r["eval/fid"], 3)) for r in evals]
        log(f"evaluations (step, smiling=1, smiling=0, FID): {trail}")
        best = max(evals, key=lambda r: r["eval/attr_acc"])
        tev = QualityEvaluator("celeba-genki-smiling", n=min(a.n_eval, 1000), feature_net=a.feature_net,
                               seed=a.seed, judge_steps=a.judge_steps, log=log)  # same judge, test split
        q = tev(model)
        gen = torch.Generator().manual_seed(a.seed)
        noise = model.sample_noise(8, gen).repeat(2, 1)
        cond = torch.cat([torch.ones(8, 1), torch.zeros(8, 1)])
        with torch.no_grad():
            grid = model.sample(16, cond=cond.to(dev), noise=noise.to(dev)).float().clamp(-1, 1).cpu()
        save_grid(grid, RESULTS / f"cgan_smiling{tag}.png", nrow=8)
        # A second judge (another seed, fresh noise and real subset) scores the last and the best checkpoint:
        # the best was chosen by the first judge, so only the second one's figure for it is unbiased.
        cev2 = QualityEvaluator("celeba-genki-smiling", n=min(a.n_eval, 1000), feature_net=a.feature_net,
                                seed=a.seed + 1, judge_steps=a.judge_steps, judge_seed=a.seed + 1, log=log)
        second = {}
        for which, ck in (("last", res.last_checkpoint), ("best", res.best_checkpoint)):
            r2 = cev2(from_checkpoint(ck, device=dev).eval())
            second[which] = {"smiling_1": r2["attr_Smiling=1"], "smiling_0": r2["attr_Smiling=0"],
                             "smiling_1_ci": [r2["attr_Smiling=1_lo"], r2["attr_Smiling=1_hi"]],
                             "smiling_0_ci": [r2["attr_Smiling=0_lo"], r2["attr_Smiling=0_hi"]],
                             "fid": round(r2["fid"], 3), "fid_ci": [round(r2["fid_lo"], 3), round(r2["fid_hi"], 3)]}
        log(f"second judge: {second}")
        celeba = {"second_judge": second, "second_lines": cev2.lines, "steps": a.cgan_steps, "image_size": size,
                  "seconds": round(secs, 1), "n_train": len(cs),
                  "smiling_1": q["attr_Smiling=1"], "smiling_0": q["attr_Smiling=0"], "n_judged": int(q["n_judged"]),
                  "smiling_1_ci": [q["attr_Smiling=1_lo"], q["attr_Smiling=1_hi"]],
                  "smiling_0_ci": [q["attr_Smiling=0_lo"], q["attr_Smiling=0_hi"]],
                  "fid": round(q["fid"], 3), "fid_ci": [round(q["fid_lo"], 3), round(q["fid_hi"], 3)],
                  "lines": tev.lines, "options": " ".join(copts), "trail": trail,
                  "ema": a.cgan_ema or None,
                  "best": {"step": best["step"], "smiling_1": best["eval/attr_Smiling=1"],
                           "smiling_0": best["eval/attr_Smiling=0"]}}
        log(json.dumps(celeba))

    cmd = "uv run python bench/gan_bench.py " + " ".join(shlex.quote(s) for s in sys.argv[1:])
    md = [f"# GAN benchmark ({dev.type})", "",
          f"Command: `{cmd}` (seed {a.seed}; whole run {time.perf_counter() - t_all:.0f} s)", "",
          f"Machine: {json.dumps(describe_machine(dev))}", "",
          (f"Data: fashion-mnist train ({len(x)} images) at {a.image_size} px, batch {a.batch_size}; "
          f"G/D width {a.width} (ngf = ndf); FID/KID: {a.n_eval} generated vs real test images."), ""]
    md += [f"- {s}" for s in fm_lines] + [""]
    md += ["| model | G steps | wall s | train img/s | vs ref | FID | KID |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        vs = f"{r['vs_ref']:.2f}×" if r["vs_ref"] is not None else "ref"
        md.append(f"| {r['model']} | {r['steps']} | {r['seconds']} | {r['img_s']} | {vs} | {fmt_ci(r['fid'], r['fid_ci'], 2)} | "
                  f"{r['kid']:.4f} ± {r['kid_std']:.4f} |")
    md += ["", (f"img/s = generator steps × batch / s from step 10 on; a wgan-gp step includes 5 critic steps. "
           f"vs ref = img/s over the mean of the two reference runs ({ref_rate:.1f} img/s). The reference and "
           "mediatk run back to back in one process; on a shared CPU timings vary from run to run. FID [95% "
           "bootstrap interval over the generated images; it does not include the choice of feature net].")]
    if fakes:
        from fid_spread import spread_markdown  # bench/ is this script's directory
        from mediatk.evaluation.feature_nets import feature_spread

        real = load_images("fashion-mnist", split="test", image_size=a.image_size, limit=a.n_eval, seed=a.seed).tensor()
        sp = feature_spread("fashion-mnist", tuple(x.shape[1:]), real, fakes, net=a.feature_net, log=log)
        md += [""] + spread_markdown(sp, "FID under feature nets trained with seeds 0, 1, 2 (same fakes)")
    if celeba:
        md += ["", (f"## cgan --attr smiling (celeba-genki-smiling, {celeba['n_train']} train images, "
               f"{celeba['image_size']} px, {celeba['steps']} steps, {celeba['seconds']} s)"), ""]
        md += [f"- {s}" for s in celeba["lines"]]
        b = celeba["best"]
        ema = (f"; EMA of the weights, decay {celeba['ema']} (sampling and evaluation use it)"
               if celeba.get("ema") else "")
        md += [f"- options: `cgan --attr smiling {celeba['options']}`, batch {a.batch_size}{ema}",
               (f"- last step: asked to smile, judged smiling {fmt_ci(celeba['smiling_1'], celeba['smiling_1_ci'])}; "
               f"asked not to smile, judged not smiling {fmt_ci(celeba['smiling_0'], celeba['smiling_0_ci'])} (each "
               f"of {celeba['n_judged']} samples, test split; Wilson 95% intervals)"),
               (f"- best of {len(celeba['trail'])} evaluations (engine's best-checkpoint rule, attr_acc:max on the "
               f"val split; chosen with the same judge, so optimistic): step {b['step']}: {b['smiling_1']:.3f} / "
               f"{b['smiling_0']:.3f}"),
               f"- evaluations on val (step, smiling=1, smiling=0, FID): {celeba['trail']}",
               (f"- a second judge, independent of the checkpoint choice ({celeba['second_lines'][-1]}; fresh noise): "
                + "; ".join(f"{w} checkpoint {fmt_ci(v['smiling_1'], v['smiling_1_ci'])} / "
                            f"{fmt_ci(v['smiling_0'], v['smiling_0_ci'])}"
                            for w, v in celeba["second_judge"].items())),
               f"- FID {fmt_ci(celeba['fid'], celeba['fid_ci'], 2)} (target for attribute accuracy: ≥ 0.90 both ways)",
               f"- samples: `bench/results/cgan_smiling{tag}.png` (top row smiling=1, bottom smiling=0, same noise)"]
    text = "\n".join(md) + "\n"
    print(text)
    (RESULTS / f"gans{tag}.md").write_text(text)
    (RESULTS / f"gans{tag}.json").write_text(json.dumps({"rows": rows, "celeba": celeba, "command": cmd,
                                                          "fmnist_lines": fm_lines}, indent=2))


if __name__ == "__main__":
    main()
