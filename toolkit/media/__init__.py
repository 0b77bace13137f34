"""Pixels and media files: the one place mediatk decodes, converts, resizes and encodes images and videos.

* :mod:`mediatk.media.pixels`: image decoding (every mode, alpha on white), colour, crops, the one resize
  rule, tensors (``float32 C x H x W`` in ``[-1, 1]``) and back, saving images, the image/video suffixes,
  and :class:`~mediatk.media.pixels.Preprocess`, a detector's recorded input rule.
* :mod:`mediatk.media.video`: probing, streaming (:class:`~mediatk.media.video.VideoReader`) and writing
  videos.
* :mod:`mediatk.media.draw`: sample grids and frame annotation.
* :mod:`mediatk.media.perturb`: JPEG, blur, downscale and H.264 re-encoding, for augmentation and
  robustness curves alike.

Every file written goes through :func:`mediatk.core.fileio.atomic_path`; every failure a user can cause
(missing, empty, truncated or non-media file) is a one-line :class:`~mediatk.core.errors.MediaError` that
names the path.
"""
