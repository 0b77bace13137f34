"""``mediatk.core.runtime.import_torchvision``: torchvision without ``torch._dynamo`` at import time (the start of
``mediatk detect``), with torchvision's ops still working."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_detect_start_imports_torchvision_without_dynamo_and_roi_align_still_works():
    code = textwrap.dedent("""
        import sys, torch
        from mediatk.detectors.faces import FaceFinder
        from mediatk.detectors.forgery import ForgeryNet
        FaceFinder("cpu"); ForgeryNet("mobilenet_v3_small")
        import torchvision
        assert "torch._dynamo" not in sys.modules, "torch._dynamo was imported"
        assert "torch._dynamo.utils" not in sys.modules  # the stand-in is gone once torchvision is loaded
        from torchvision.ops import roi_align
        ra = sys.modules["torchvision.ops.roi_align"]  # the module (torchvision.ops.roi_align is the function)
        # the stand-in answers with the real function once called (it imports torch._dynamo then)
        assert ra.is_compile_supported("cpu") is True and "torch._dynamo" in sys.modules
        from torch._dynamo.utils import is_compile_supported
        assert is_compile_supported.__module__ == "torch._dynamo.utils"
        x = torch.arange(64.0).view(1, 1, 8, 8)
        rois = torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]])
        out = roi_align(x, rois, output_size=2, aligned=True)
        ref = ra._roi_align(x, rois, 1.0, 2, 2, -1, True)   # torchvision's own Python reference
        assert out.shape == (1, 1, 2, 2) and torch.allclose(out, ref), (out, ref)
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_mediatk_detect_on_a_video_never_imports_dynamo(shared_data, tmp_path):
    """The whole command (CLI, store, shipped model, MTCNN, blink): a new ``import torchvision`` or
    ``facenet_pytorch`` that runs before ``import_torchvision`` would bring the 3.5 s back."""
    import os

    clip = shared_data / "face-videos" / "real" / "liveportrait_d0.mp4"
    env = {**os.environ, "MEDIATK_HOME": str(tmp_path / "home")}
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "mediatk", "detect", str(clip)], capture_output=True,
                       text=True, timeout=300, check=False, env=env)
    assert r.returncode == 0 and "rests on face-forgery" in r.stdout, r.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert "facenet_pytorch" in imported and "torchvision" in imported
    assert not [m for m in imported if m.startswith("torch._dynamo")]
