"""Faces for the detectors: MTCNN (facenet-pytorch, bundled weights) batched on downscaled frames, ONet
refinement for cheap per-frame tracking, main-face tracking, face and eye crops.

* :meth:`FaceFinder.detect` runs the full three-stage MTCNN on a batch of frames, each first downscaled so
  that its longer side is at most ``detect_side`` (default 360 px; faces in talking-head video are large),
  with ``min_face_size`` = max(20 px, ``min_face_frac`` × the short side) to keep the image pyramid short;
  a frame whose short side is under that size has no detectable face (MTCNN itself would raise on it).
  Boxes and the five landmarks (left eye, right eye, nose, mouth corners) come back in the coordinates of
  the frames as given.
* :meth:`FaceFinder.refine` runs only the last stage (ONet, 48×48 input) on the square around a known box:
  one small forward pass per frame instead of a pyramid, used to follow the face between full detections.
* :class:`FaceTracker` keeps the *main face*: at the start (or after losing it) the largest confident
  face; afterwards the detection that overlaps the tracked box most (IoU ≥ 0.3).
* :func:`crop_face` cuts a square of side ``scale`` × max(box w, h) around the box centre (padding with
  edge pixels outside the frame) through :mod:`mediatk.media.pixels`, as detection does;
  :func:`eye_patches` cuts rotation-normalised 24×24 grey eye crops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from mediatk.core.runtime import import_torchvision, resolve_device
from mediatk.media.pixels import crop_box, resize_uint8, square_box


@dataclass
class Face:
    box: np.ndarray            # x1, y1, x2, y2 (float, frame pixels)
    prob: float
    landmarks: np.ndarray | None = None  # 5×2: left eye, right eye, nose, mouth left, mouth right

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    def scaled(self, s: float) -> Face:
        return Face(self.box * s, self.prob, None if self.landmarks is None else self.landmarks * s)

    def to_json(self) -> dict:
        return {"box": [round(float(v), 1) for v in self.box], "prob": round(float(self.prob), 4)}


def plausible_eyes(face: Face) -> bool:
    """Landmarks that make sense for eye crops: inter-ocular distance 0.25–0.7 of the box width, both eyes
    inside the box's upper 60 %.  ONet occasionally returns displaced landmarks on a single frame (motion
    blur, a hand), which would otherwise read as a closed eye."""
    if face.landmarks is None:
        return False
    (lx, ly), (rx, ry) = face.landmarks[0], face.landmarks[1]
    x1, y1, x2, y2 = face.box
    w, h = max(x2 - x1, 1e-6), max(y2 - y1, 1e-6)
    d = float(np.hypot(rx - lx, ry - ly))
    inside = all(x1 <= x <= x2 and y1 <= y <= y1 + 0.6 * h for x, y in ((lx, ly), (rx, ry)))
    return 0.25 <= d / w <= 0.7 and inside and rx > lx


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / ua) if ua > 0 else 0.0


class FaceFinder:
    """MTCNN wrapper; see the module docstring."""

    def __init__(self, device: str | torch.device = "cpu", detect_side: int | None = 360, min_face_frac: float = 0.06,
                 thresholds: Sequence[float] = (0.6, 0.7, 0.7), refine_threshold: float = 0.8):
        import_torchvision()  # facenet-pytorch imports torchvision: load it without torch._dynamo
        from facenet_pytorch import MTCNN

        self.device = resolve_device(device)
        self.detect_side = detect_side
        self.min_face_frac = float(min_face_frac)
        self.refine_threshold = float(refine_threshold)
        self.mtcnn = MTCNN(keep_all=True, device=self.device, thresholds=list(thresholds), post_process=False)
        self.calls = 0

    def _scale(self, h: int, w: int) -> float:
        if self.detect_side is None or max(h, w) <= self.detect_side:
            return 1.0
        return self.detect_side / max(h, w)

    @torch.no_grad()
    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Face]]:
        """All faces in each RGB uint8 frame (batched per frame size), most confident first."""
        out: list[list[Face]] = [[] for _ in frames]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault(f.shape[:2], []).append(i)
        for (h, w), idx in groups.items():
            s = self._scale(h, w)
            size = (max(1, round(w * s)), max(1, round(h * s)))
            batch = np.stack([frames[i] if s == 1.0 else cv2.resize(frames[i], size, interpolation=cv2.INTER_AREA)
                              for i in idx])
            self.mtcnn.min_face_size = max(20, int(self.min_face_frac * min(size)))
            if min(size) < self.mtcnn.min_face_size:
                continue  # no face this small can be found, and MTCNN's image pyramid would be empty (it raises)
            self.calls += 1
            boxes, probs, points = self.mtcnn.detect(batch, landmarks=True)
            for j, i in enumerate(idx):
                if boxes[j] is None:
                    continue
                b = np.asarray(boxes[j], dtype=np.float64).reshape(-1, 4)
                p = np.asarray(probs[j], dtype=np.float64).reshape(-1)
                lm = np.asarray(points[j], dtype=np.float64).reshape(-1, 5, 2)
                faces = [Face(b[k], float(p[k]), lm[k]).scaled(1.0 / s) for k in range(len(b))]
                out[i] = sorted(faces, key=lambda f: -f.prob)
        return out

    @torch.no_grad()
    def refine(self, frame: np.ndarray, box: np.ndarray) -> Face | None:
        """ONet on the square around ``box``: the refined face, or None if ONet's confidence is too low."""
        x1, y1, x2, y2 = (float(v) for v in box)
        side = max(x2 - x1, y2 - y1)
        if side < 8:
            return None
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        sq = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
        patch = crop_square(frame, sq, 48)
        t = torch.from_numpy(patch).permute(2, 0, 1)[None].float().to(self.device)
        reg, pts, prob = self.mtcnn.onet((t - 127.5) * 0.0078125)
        p = float(prob[0, 1])
        if p < self.refine_threshold:
            return None
        reg, pts = reg[0].double().cpu().numpy(), pts[0].double().cpu().numpy()
        w = h = side
        lm = np.stack([w * pts[:5] + sq[0], h * pts[5:] + sq[1]], 1)
        nb = np.array([sq[0] + reg[0] * w, sq[1] + reg[1] * h, sq[2] + reg[2] * w, sq[3] + reg[3] * h])
        return Face(nb, p, lm)


class FaceTracker:
    """Follows the main face: largest confident face first, then the best-overlapping one."""

    def __init__(self, min_iou: float = 0.3, min_prob: float = 0.9):
        self.min_iou, self.min_prob = min_iou, min_prob
        self.face: Face | None = None

    def choose(self, faces: Sequence[Face]) -> Face | None:
        faces = [f for f in faces if f.prob >= self.min_prob]
        if not faces:
            return None
        if self.face is not None:
            best = max(faces, key=lambda f: iou(f.box, self.face.box))
            if iou(best.box, self.face.box) >= self.min_iou:
                self.face = best
                return best
        self.face = max(faces, key=lambda f: f.area * f.prob)
        return self.face

    def update(self, face: Face | None) -> None:
        self.face = face if face is not None else self.face

    def reset(self) -> None:
        self.face = None


def crop_square(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The square ``box`` (x1, y1, x2, y2) of ``image`` resized to ``size``², edge-padded outside, with
    sub-pixel placement (warpAffine).  For MTCNN's ONet input and blink's eye region only: detector inputs
    go through :func:`crop_face` (the one pixel path)."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1, 1.0)
    k = size / side
    m = np.array([[k, 0, -x1 * k], [0, k, -y1 * k]], dtype=np.float64)
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    if k < 0.5:  # warpAffine has no area filter: pre-shrink the region of interest first
        pad = int(side * 0.05) + 2
        xa, ya = max(0, int(x1) - pad), max(0, int(y1) - pad)
        xb, yb = min(image.shape[1], math.ceil(x2) + pad), min(image.shape[0], math.ceil(y2) + pad)
        if xb > xa and yb > ya:
            sub = image[ya:yb, xa:xb]
            f = 2 * k
            small = cv2.resize(sub, (max(1, round(sub.shape[1] * f)), max(1, round(sub.shape[0] * f))),
                               interpolation=cv2.INTER_AREA)
            fx, fy = small.shape[1] / sub.shape[1], small.shape[0] / sub.shape[0]
            m = np.array([[k / fx, 0, -(x1 - xa) * k], [0, k / fy, -(y1 - ya) * k]], dtype=np.float64)
            return cv2.warpAffine(small, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.warpAffine(image, m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)


def crop_face(image: np.ndarray, face: Face, size: int, scale: float = 1.2) -> np.ndarray:
    """Square RGB uint8 crop of side ``scale`` × max(w, h) of the face box, centred on it, at ``size``²: the
    crop and resize of the one pixel path (:func:`mediatk.media.pixels.crop_box`, then its resize rule), as
    a face-crop detector sees the face at detection."""
    return resize_uint8(crop_box(image, square_box(face.box, scale)), int(size))


def eye_patches(image: np.ndarray, landmarks: np.ndarray, size: int = 24, scale: float = 0.65) -> np.ndarray:
    """Two ``size``² grey crops (left, right eye) of an RGB (or grey) image, centred on the eye landmarks,
    side ``scale`` × the inter-ocular distance, rotated so that the eyes lie on a horizontal line (as in
    the CEW crops).  Only the two small regions are touched, never the whole frame."""
    le, re = landmarks[0], landmarks[1]
    d = float(np.hypot(*(re - le)))
    angle = math.degrees(math.atan2(re[1] - le[1], re[0] - le[0]))
    side = max(4.0, scale * d)
    out = []
    for c in (le, re):
        m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), angle, size / side)
        m[:, 2] += (size / 2 - c[0], size / 2 - c[1])
        if side > 2 * size:  # warpAffine samples without an area filter: pre-shrink the neighbourhood
            r = int(side) + 2
            x0, y0 = max(0, int(c[0]) - r), max(0, int(c[1]) - r)
            sub = image[y0:int(c[1]) + r, x0:int(c[0]) + r]
            f = 2 * size / side
            small = cv2.resize(sub, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            sx, sy = small.shape[1] / sub.shape[1], small.shape[0] / sub.shape[0]
            m = cv2.getRotationMatrix2D((float(c[0] - x0) * sx, float(c[1] - y0) * sy), angle, size / (side * sx))
            m[:, 2] += (size / 2 - (c[0] - x0) * sx, size / 2 - (c[1] - y0) * sy)
            patch = cv2.warpAffine(small, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        else:
            patch = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out.append(cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY) if patch.ndim == 3 else patch)
    return np.stack(out)
