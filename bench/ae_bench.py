"""Benchmark: reconstruction quality of PCA and the autoencoder family (not a test).

Fashion-MNIST test-set reconstruction MSE / PSNR (pixels in [0, 1]) for PCA and each autoencoder at code
sizes 2, 16, 32, with training time and images/s on this machine; plus the MLP lecture's 64-16-64 patch
compressor at 6 and 4 bits per code value (1.5 and 1 bit/pixel) on grey 64x64 faces (celeba-genki-smiling).

    uv run python bench/ae_bench.py [--steps 1000] [--train 60000] [--test 10000] [--out bench/results]

Writes ``autoencoders.md`` and ``autoencoders.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from mediatk.core.fileio import write_json, write_text
from mediatk.core.metrics import psnr
from mediatk.core.runs import new_run
from mediatk.core.runtime import describe_machine, seed_everything
from mediatk.datasets import load_images
from mediatk.generators import create
from mediatk.generators.engine import Feed, TrainConfig, fit


def mse01(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((((a + 1) / 2 - (b + 1) / 2) ** 2).mean())


def model_cfg(name: str, code: int):
    cls = create(name, (1, 28, 28)).Config if name != "pca" else None
    if name == "pca":
        return create("pca", (1, 28, 28)).Config(code_size=code)
    if name == "vae":
        return cls(arch="mlp", latent_dim=code, hidden="256,128")
    if name == "ae":
        return cls(code_size=code, hidden="256,128", loss="bce", lr=2e-3)
    if name == "dae":
        return cls(code_size=code, hidden="256,128", loss="bce", lr=2e-3, noise="gaussian", noise_level=0.3)
    if name == "sparse-ae":
        return cls(code_size=code, hidden="256", loss="bce", lr=2e-3, penalty="kl", sparsity_weight=0.1)
    if name == "ksparse-ae":
        return cls(code_size=code, hidden="256,128", loss="bce", lr=2e-3, k=max(1, code // 2))
    if name == "contractive-ae":
        return cls(code_size=code, loss="bce", lr=2e-3, contraction=0.1)
    raise KeyError(name)


@torch.no_grad()
def evaluate(model, x: torch.Tensor) -> tuple[float, float]:
    model.eval()
    outs = [model.reconstruct(x[i:i + 1000]).float() for i in range(0, len(x), 1000)]
    rec = torch.cat(outs)
    return mse01(rec, x), psnr(rec, x)


def run_one(name, cfg, shape, x, xt, steps, batch, tmp, seed=0):
    seed_everything(seed)
    model = create(name, shape, cfg=cfg)
    t = time.perf_counter()
    res = fit(model, Feed(x, torch.zeros(len(x)), batch, seed=seed), new_run(name, out=tmp / f"{name}-{time.time_ns()}"),
              TrainConfig(steps=steps, batch_size=batch, progress=False, device="cpu", seed=seed, ckpt_every=10**9))
    secs = time.perf_counter() - t
    mse, db = evaluate(model, xt)
    return {"model": name, "seconds": round(secs, 2), "images_per_s": round(res.images_seen / secs, 1),
            "test_mse": round(mse, 5), "test_psnr_db": round(db, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--train", type=int, default=60000)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--codes", default="2,16,32")
    ap.add_argument("--models", default="pca,ae,dae,sparse-ae,ksparse-ae,contractive-ae,vae")
    ap.add_argument("--out", default="bench/results")
    args = ap.parse_args(argv)
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="ae_bench_"))
    torch.set_num_threads(2)
    tr = load_images("fashion-mnist", split="train", limit=args.train)
    te = load_images("fashion-mnist", split="test", limit=args.test)
    x, xt = tr.tensor(), te.tensor()
    rows = []
    for code in [int(c) for c in args.codes.split(",")]:
        for name in args.models.split(","):
            r = run_one(name, model_cfg(name, code), (1, 28, 28), x, xt, args.steps, args.batch, tmp)
            r["code"] = code
            rows.append(r)
            print(json.dumps(r), flush=True)

    # the patch compressor on grey faces
    faces = load_images("celeba-genki-smiling", split="train", channels=1, image_size=64)
    faces_t = load_images("celeba-genki-smiling", split="test", channels=1, image_size=64)
    fx, fxt = faces.tensor(), faces_t.tensor()
    patch_rows = []
    for bits in (0, 6, 4):
        cfg = create("ae", (1, 64, 64)).Config(arch="patch", code_size=16, activation="tanh", quant_bits=bits,
                                               lr=2e-3)
        r = run_one("ae", cfg, (1, 64, 64), fx, fxt, args.steps, 32, tmp)
        r["bits"] = bits
        r["bits_per_pixel"] = 16 * bits / 64 if bits else 16 * 32 / 64
        patch_rows.append(r)
        print(json.dumps(r), flush=True)

    machine = describe_machine()
    cmd = "uv run python bench/ae_bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = ["# Autoencoder family vs PCA: reconstruction on Fashion-MNIST", "",
             f"Command: `{cmd.strip()}`  ", f"Machine: {machine['platform']}, {machine['cpu_count']} CPUs, "
             f"torch threads {machine['torch_threads']}, CPU only  ",
             f"Data: fashion-mnist train n={len(x)}, test n={len(xt)} (28x28 grey); budget {args.steps} Adam steps "
             f"x batch {args.batch} per model (PCA: one randomised-SVD fit); seed 0. MSE and PSNR on pixels in [0, 1].",
             "", "| code | model | test MSE | PSNR dB | train s | images/s |", "|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['code']} | {r['model']} | {r['test_mse']:.5f} | {r['test_psnr_db']:.2f} | "
                     f"{r['seconds']:.1f} | {r['images_per_s']:.0f} |")
    lines += ["", "## 64-16-64 patch compressor (MLP lecture) on grey 64x64 faces",
              f"Data: celeba-genki-smiling grey, train n={len(fx)}, test n={len(fxt)}; 8x8 patches, 16 tanh code "
              f"units; {args.steps} steps x 32 images. bits=0 is the unquantised float code.", "",
              "| code bits | bits/pixel | test MSE | PSNR dB | train s |", "|---:|---:|---:|---:|---:|"]
    for r in patch_rows:
        bpp = f"{r['bits_per_pixel']:.2f}" if r["bits"] else "float"
        lines.append(f"| {r['bits'] or 'float32'} | {bpp} | {r['test_mse']:.5f} | {r['test_psnr_db']:.2f} | "
                     f"{r['seconds']:.1f} |")
    out = Path(args.out)
    write_text(out / "autoencoders.md", "\n".join(lines) + "\n")
    write_json(out / "autoencoders.json", {"machine": machine, "command": cmd, "rows": rows, "patch": patch_rows})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
