"""Benchmark: the streamed ``detect`` video pipeline vs a naive reference, and memory vs video length.

Per shared video (../shared/data/face-videos), in one process, side by side:

* **pipeline**: ``mediatk detect`` with blink (eyestate) + two per-face detectors (``spectrum`` and ``cnn``
  trained on GENKI face crops, i.e. real per-face work): frames decoded once, 15 fps analysed for eye
  state at native resolution (≤ 1920 px), MTCNN batched on 1 keyframe/s downscaled to 360 px, ONet tracking in between,
  per-face detectors on 2 frames/s.
* **naive**: the same detectors, but the full MTCNN on *every* frame at full resolution (one frame at a
  time), eye state and both per-face detectors on every frame.  On a slow CPU it runs on the first
  ``--naive-seconds`` of each clip only; its speed is then measured per second of video covered.

Figures: wall time, frames read / analysed, real-time factor (video seconds ÷ wall seconds; ≥ 2 means
twice faster than real time), peak memory (RSS sampled every 5 ms, above the level before the run), and
naive ÷ pipeline time per video second.  Then peak memory (``ru_maxrss`` of a fresh child process) for a
clip and the same clip looped 10× (written with VideoWriter into a temp file): flat memory means the
two peaks match.

    nice uv run python bench/detect_bench.py                      # CPU, writes bench/results/detect.md
    python bench/detect_bench.py --device cuda --naive-seconds 0   # on a GPU machine, full naive runs
    nice uv run python bench/detect_bench.py --faces-only --only ffpp --skip-memory --out /tmp/faces.md
                                                                   # per-face detectors only, the 720p clips
    nice uv run python bench/detect_bench.py --default-model --only ffpp_c23 --skip-memory --end-to-end 5 \
        --out bench/results/detect_default.md
                                                                   # what a fresh install runs (issue 11)

``--default-model`` benchmarks what ``mediatk detect VIDEO`` runs on a fresh install: an empty model store, so
the shipped ``face-forgery-dfdc`` model on the tracked face (face-scores) plus blink with OpenCV's eye cascade;
the naive reference runs that same model and the same eye measure on every full-resolution frame.
``--end-to-end N`` also times the whole command (``python -m mediatk detect CLIP``, a fresh process: imports,
model loading, decoding, analysis) on each clip and on the first clip looped N times, at torch's default
thread count, as a user would run it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class PeakRSS:
    """Samples this process's RSS in a thread; ``peak_mb`` is the maximum above the starting level."""

    def __init__(self, every: float = 0.005):
        import psutil

        self.proc, self.every = psutil.Process(), every

    def __enter__(self):
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.every)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak_mb = (self.peak - self.base) / 2 ** 20


def setup_detectors(data: Path, device: str, eyes: bool = True) -> dict[str, Path]:
    """eyestate (unless not ``eyes``) + face-crop spectrum and cnn in the model store (trained here when missing)."""
    import torch.nn.functional as F
    from mediatk.datasets import load_images
    from mediatk.detectors import create, find_detector, train_detector

    if eyes and find_detector("eyestate") is None:
        train_detector("eyestate", data=str(data / "eyes-open-closed"), options=["--steps", "600"], device=device,
                       log=lambda s: None)
    out = {"eyestate": find_detector("eyestate")}
    tr = load_images(str(data / "celeba-genki-smiling"), split="train", limit=800, seed=0).tensor()
    fake = F.interpolate(F.avg_pool2d(tr, 2), scale_factor=2, mode="nearest")  # stand-in fakes: timing only
    for name, opts in (("spectrum", []), ("cnn", ["--steps", "60", "--width", "16", "--augment", "none"])):
        det = create(name, device=device, options=opts).fit(tr, fake, face_crops=True)
        det.face_crop_scale = 0.86
        out[name] = det.save(Path(tempfile.mkdtemp()) / name)
    return out


def load_all(ckpts: dict[str, Path], device: str, blink: bool = True):
    from mediatk.detectors import load
    from mediatk.detectors.blink import BlinkDetector, EyeOpenness

    dets = {}
    if blink:  # the eye model is loaded here: model loading is not part of the per-video figure
        dets["blink"] = BlinkDetector(device=device, eyes=EyeOpenness(load(ckpts["eyestate"], device=device)))
    dets.update({n: load(p, device=device) for n, p in ckpts.items() if n != "eyestate"})
    return dets


def run_pipeline(path: Path, dets, device: str, opts=None) -> dict:
    from mediatk.detectors.inference import Detection

    run = Detection(dets, {}, device, video_options=opts, timeline=False)
    run.finder()  # model loading is not part of the per-video figure
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        res = run.run(path)
        wall = time.perf_counter() - t0
    if res["status"] == "error":
        raise RuntimeError(res["error"])
    return {"wall": wall, "read": res["frames"]["read"], "analysed": res["frames"]["analysed"],
            "duration": res["video"]["duration"], "rtf": res["video"]["duration"] / wall, "peak_mb": mem.peak_mb,
            "blink": res["detectors"].get("blink", {}).get("details", {}).get("finding"),
            "faces": res["faces"]["fraction"]}


def run_naive(path: Path, dets, device: str, max_seconds: float | None, threads: int) -> dict:
    """Full MTCNN on every full-resolution frame, one by one; eyes and per-face detectors on every frame."""
    import torch
    from mediatk.detectors import find_detector, load
    from mediatk.detectors.blink import EyeOpenness
    from mediatk.detectors.face_scores import detector_input
    from mediatk.detectors.faces import FaceFinder, FaceTracker, plausible_eyes
    from mediatk.media.video import VideoReader

    torch.set_num_threads(threads)
    finder = FaceFinder(device, detect_side=None, min_face_frac=0.0)
    eyestate = find_detector("eyestate")  # none on a fresh install: blink then measures eyes with OpenCV's cascade
    eyes = EyeOpenness(load(eyestate, device=device) if eyestate else None) if "blink" in dets else None
    track = FaceTracker(min_prob=0.8)
    per_face = {n: d for n, d in dets.items() if n != "blink"}
    reader = VideoReader(path, end=max_seconds or None)
    n = 0
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        for fr in reader:
            face = track.choose(finder.detect([fr.image])[0])
            if face is not None:
                if eyes is not None and plausible_eyes(face):
                    eyes.batch([fr.image], [face])  # RGB, as the pipeline passes it
                for det in per_face.values():
                    det.predict_proba(detector_input(det, fr.image, face)[None])
            n += 1
        wall = time.perf_counter() - t0
    covered = n / reader.info.fps
    return {"wall": wall, "frames": n, "covered": covered, "rtf": covered / wall, "peak_mb": mem.peak_mb}


def loop_video(src: Path, dst: Path, times: int) -> None:
    from mediatk.media.video import VideoReader, VideoWriter

    info = VideoReader(src).info
    with VideoWriter(dst, info.fps) as w:
        for _ in range(times):
            for fr in VideoReader(src):
                w.write(fr.image)


def child_peak(path: Path, device: str) -> dict:
    """Run the pipeline on ``path`` in a fresh process; its ru_maxrss and wall time."""
    cmd = [sys.executable, __file__, "--child", str(path), "--device", device]
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def default_detectors(device: str) -> dict:
    """What ``mediatk detect`` loads with an empty model store: the shipped face model and blink."""
    from mediatk.detectors.inference import select_detectors

    dets, _ = select_detectors(None, device)
    ck = getattr(dets.get("face-forgery"), "checkpoint_path", None)  # what the store found for detect
    if ck is None or "zoo" not in Path(ck).parts:
        raise SystemExit(f"--default-model needs an empty MEDIATK_HOME (the zoo's face-forgery), found {ck}")
    print(f"default detectors: {sorted(dets)}; face-forgery from {ck}", flush=True)
    return dets


def end_to_end(clips: list[Path], device: str) -> list[dict]:
    """Wall time of the whole ``mediatk detect CLIP`` command in a fresh process, with a fresh empty home."""
    out = []
    for clip in clips:
        env = {**os.environ, "MEDIATK_HOME": tempfile.mkdtemp(prefix="mediatk-e2e-")}
        env.pop("OMP_NUM_THREADS", None)
        cmd = [sys.executable, "-m", "mediatk", "detect", str(clip), "--json", "--device", device]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-500:]}")
        res = json.loads(r.stdout.splitlines()[0])  # JSON Lines: the clip's result, then a summary
        dur = res["video"]["duration"]
        out.append({"clip": clip.name, "duration": dur, "wall": wall, "rtf": dur / wall,
                    "verdict": res["verdict"]["label"], "p": res["verdict"]["p_synthetic"],
                    "analysis_rtf": res.get("realtime_factor")})
        print(f"end to end {clip.name}: {dur:.1f} s of video in {wall:.1f} s ({dur / wall:.2f}x real time)",
              flush=True)
    return out


def child_main(path: str, device: str) -> None:
    from mediatk.detectors import find_detector, load
    from mediatk.detectors.blink import BlinkDetector

    dets = {} if os.environ.get("BENCH_FACES_ONLY") else {"blink": BlinkDetector(device=device)}
    for n in ("spectrum", "cnn"):
        ck = os.environ.get(f"BENCH_{n.upper()}")
        if ck:
            dets[n] = load(ck, device=device)
    assert find_detector("eyestate") is not None
    r = run_pipeline(Path(path), dets, device)
    r["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both pipeline and naive")
    ap.add_argument("--naive-seconds", type=float, default=2.0, help="naive on the first S s of each clip (0: all)")
    ap.add_argument("--long-clip", default="real/hdtf_RD_Radio2_000.mp4")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "detect.md"))
    ap.add_argument("--faces-only", action="store_true",
                    help="per-face detectors only (no blink) in both the pipeline and the naive reference")
    ap.add_argument("--only", default="", help="only the clips whose path contains this text")
    ap.add_argument("--skip-memory", action="store_true", help="skip the memory-vs-length runs")
    ap.add_argument("--default-model", action="store_true",
                    help="what a fresh install runs: the shipped face-forgery model + blink (empty model store)")
    ap.add_argument("--end-to-end", type=int, default=0, metavar="N",
                    help="also time the whole `mediatk detect CLIP` command per clip and on the first clip looped N times")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault("MEDIATK_HOME", tempfile.mkdtemp(prefix="mediatk-bench-"))
    os.environ.setdefault("MEDIATK_OFFLINE", "1")
    import torch

    torch.set_num_threads(a.threads)
    if a.child:
        return child_main(a.child, a.device)
    from mediatk.core.runtime import describe_machine, resolve_device

    dev = str(resolve_device(a.device))
    data = Path(a.data)
    t_setup = time.perf_counter()
    if a.default_model:
        ckpts, dets = {}, default_detectors(dev)
    else:
        ckpts = setup_detectors(data, dev, eyes=not a.faces_only)
        dets = load_all(ckpts, dev, blink=not a.faces_only)
    print(f"detectors ready in {time.perf_counter() - t_setup:.1f}s", flush=True)
    from mediatk.datasets import load_videos

    videos = [v for v in load_videos(str(data / "face-videos")) if a.only in str(v.path)]
    rows = []
    for it in videos:
        rel = it.path.relative_to(data / "face-videos")
        p = run_pipeline(it.path, dets, dev)
        q = run_naive(it.path, dets, dev, a.naive_seconds or None, a.threads)
        ratio = (q["wall"] / q["covered"]) / (p["wall"] / p["duration"])
        rows.append((rel, it.meta, p, q, ratio))
        print(f"{rel}: pipeline {p['wall']:.1f}s ({p['rtf']:.2f}x real time, {p['analysed']}/{p['read']} frames, "
              f"peak +{p['peak_mb']:.0f} MB) | naive {q['frames']} frames in {q['wall']:.1f}s ({q['rtf']:.2f}x) | "
              f"{ratio:.1f}x", flush=True)
    e2e = None
    if a.end_to_end:
        with tempfile.TemporaryDirectory() as tmp:
            clips = [it.path for it in videos]
            if clips:
                looped = Path(tmp) / f"{clips[0].stem}_x{a.end_to_end}.mp4"
                loop_video(clips[0], looped, a.end_to_end)
                clips.append(looped)
            e2e = end_to_end(clips, dev)
    if a.default_model:
        return write_report(a, dev, describe_machine(torch.device(dev)), rows, None, None, None, e2e)
    os.environ["BENCH_SPECTRUM"], os.environ["BENCH_CNN"] = str(ckpts["spectrum"]), str(ckpts["cnn"])
    if a.faces_only:
        os.environ["BENCH_FACES_ONLY"] = "1"
    src = data / "face-videos" / a.long_clip
    if a.skip_memory:
        return write_report(a, dev, describe_machine(torch.device(dev)), rows, src, None, None, e2e)
    with tempfile.TemporaryDirectory() as tmp:
        longer = Path(tmp) / "looped10.mp4"
        loop_video(src, longer, 10)
        mem_short, mem_long = child_peak(src, dev), child_peak(longer, dev)
    write_report(a, dev, describe_machine(torch.device(dev)), rows, src, mem_short, mem_long, e2e)


def write_report(a, dev, machine, rows, src, short, long_, e2e=None) -> None:
    import platform

    from mediatk.core.fileio import write_text

    tot_p = sum(r[2]["wall"] for r in rows)
    tot_d = sum(r[2]["duration"] for r in rows)
    naive_rate = sum(r[3]["wall"] for r in rows) / sum(r[3]["covered"] for r in rows)
    cpu = machine.get("processor") or platform.machine()
    gpu = f", GPU {machine['gpu']}" if "gpu" in machine else ""
    part = f", on the first {a.naive_seconds:g} s of each clip" if a.naive_seconds else ""
    cmd = " ".join(shlex.quote(x) for x in ["python", *sys.argv])
    L = ["# `mediatk detect` video pipeline benchmark", ""]
    L.append(f"Command: `{cmd}`  ")
    L.append(f"Device: {dev}; torch threads {a.threads} (pipeline and naive alike); machine: {cpu}, "
             f"{machine['cpu_count']} CPUs, {machine['platform']}{gpu}; load average at the end "
             f"{os.getloadavg()[0]:.1f}  ")
    L += [f"Date: {time.strftime('%Y-%m-%d %H:%M')}", ""]
    what = ("the shipped face-forgery-dfdc model on face crops (face-scores, 2 faces/s) + blink (OpenCV eye cascade, "
            "15 fps); MTCNN on 1 keyframe/s at 360 px (batched), ONet tracking in between" if a.default_model else
            "spectrum + cnn on face crops (face-scores, 2 faces/s); frames decoded at 2/s, MTCNN on 1/s at 360 px "
            "(batched), ONet tracking in between" if a.faces_only else "blink (eyestate) + spectrum + cnn on face "
            "crops; 15 fps eye state on frames at native resolution (<= 1920 px), MTCNN on 1 keyframe/s at 360 px (batched), ONet tracking in "
            "between")
    L.append(f"Pipeline: {what}.  Naive: full MTCNN on every full-resolution frame, "
             f"{'the same model + eye measure' if a.default_model else 'both detectors' if a.faces_only else 'eyes + both detectors'} on every frame{part}.  Ratio = naive "
             "seconds per video second / pipeline seconds per video second.  'peak mem' = RSS above the level before "
             "that run, in one long-lived process (the allocator reuses earlier memory, so only the first run shows "
             "the working set); the fresh-process figures below are the clean memory measurement.")
    L += ["", ("| video | size | fps | frames read | analysed | pipeline wall (s) | real-time factor | peak mem (MB) "
          "| naive frames | naive wall (s) | naive RT factor | naive peak (MB) | naive / pipeline |"),
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for rel, meta, p, q, ratio in rows:
        L.append(f"| {rel} | {meta.get('width')}x{meta.get('height')} | {meta.get('fps')} | {p['read']} | "
                 f"{p['analysed']} | {p['wall']:.2f} | {p['rtf']:.2f} | {p['peak_mb']:.0f} | {q['frames']} | "
                 f"{q['wall']:.2f} | {q['rtf']:.2f} | {q['peak_mb']:.0f} | {ratio:.1f}x |")
    L += ["", (f"Total: {tot_d:.1f} s of video in {tot_p:.1f} s = **{tot_d / tot_p:.2f}x real time**; naive "
          f"{1 / naive_rate:.2f}x real time; pipeline **{naive_rate / (tot_p / tot_d):.1f}x faster** than naive.")]
    if e2e:
        L += ["", ("Whole command, `python -m mediatk detect CLIP --json` in a fresh process with an empty MEDIATK_HOME "
              "(imports, loading the shipped model, decoding, analysis; torch's default thread count):"), "",
              "| clip | video (s) | command wall (s) | real-time factor | analysis alone (x real time) | verdict (p) |",
              "|---|---|---|---|---|---|"]
        for r in e2e:
            L.append(f"| {r['clip']} | {r['duration']:.1f} | {r['wall']:.1f} | {r['rtf']:.2f} | {r['analysis_rtf']} | "
                     f"{r['verdict']} ({r['p']}) |")
    if short is None:
        write_text(a.out, "\n".join(L) + "\n")
        print("\n".join(L))
        return
    L += ["", "Memory vs length (fresh process each, ru_maxrss, whole process incl. models):", "",
          "| clip | duration (s) | frames read | wall (s) | real-time factor | peak RSS (MB) |",
          "|---|---|---|---|---|---|"]
    for label, m in ((src.name, short), (f"{src.name} looped 10x", long_)):
        L.append(f"| {label} | {m['duration']:.1f} | {m['read']} | {m['wall']:.1f} | {m['rtf']:.2f} | "
                 f"{m['ru_maxrss_mb']:.0f} |")
    write_text(a.out, "\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
