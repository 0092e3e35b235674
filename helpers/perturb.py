"""Small, exact changes to a batch of images, for measuring how robust a classifier is.

Every function takes float images `(N, H, W, C)` in [0, 1] (what `helpers.data.prepare` gives)
and returns a new float32 array of the same shape; the input is never modified. Pixels that come
in from outside the image are 0 (black), Fashion-MNIST's background.

- `shift(images, dx, dy)`: move by whole pixels, right by `dx` and down by `dy`.
- `rotate(images, degrees)`: turn counter-clockwise about the centre, with bilinear interpolation.
- `brighten(images, scale, offset)`: `scale * x + offset`, clipped to [0, 1] as a camera would.
"""

import math

import keras
import numpy as np


def _as_batch(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"expected a batch of images of shape (N, H, W, C), got shape {images.shape}; "
            "for one image use image[np.newaxis], for (N, H, W) use images[..., np.newaxis]"
        )
    return images.astype(np.float32, copy=False)


def shift(images, dx: int = 0, dy: int = 0) -> np.ndarray:
    """Move every image `dx` pixels right and `dy` pixels down (negative: left, up).

    `(N, H, W, C)` -> `(N, H, W, C)` float32. What moves off one edge is lost, and zeros come in
    at the other, so a shift by the full width or more gives a black image.
    """
    images = _as_batch(images)
    if int(dx) != dx or int(dy) != dy:
        raise ValueError(f"shift moves by whole pixels; got dx={dx}, dy={dy}")
    dx, dy = int(dx), int(dy)
    h, w = images.shape[1:3]
    out = np.zeros_like(images)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    # Rows [max(dy, 0), h + min(dy, 0)) of the output come from rows [max(-dy, 0), h - max(dy, 0))
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def rotate(images, degrees: float) -> np.ndarray:
    """Turn every image `degrees` counter-clockwise about its centre (negative: clockwise).

    `(N, H, W, C)` -> `(N, H, W, C)` float32, by bilinear interpolation; the corners that come in
    from outside are 0. The same transform as `keras.layers.RandomRotation`, without the chance.
    """
    images = _as_batch(images)
    h, w = images.shape[1:3]
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    cx, cy = (w - 1) / 2, (h - 1) / 2  # pixel centres sit at whole coordinates
    # For each output pixel (x, y), the input point it is read from: the inverse rotation.
    transform = [
        cos, -sin, cx - cos * cx + sin * cy,
        sin, cos, cy - sin * cx - cos * cy,
        0.0, 0.0,
    ]  # fmt: skip
    out = keras.ops.image.affine_transform(
        images, np.array(transform, dtype=np.float32), interpolation="bilinear", fill_value=0
    )
    return keras.ops.convert_to_numpy(out).astype(np.float32, copy=False)


def brighten(images, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """`scale * images + offset`, clipped to [0, 1]: `(N, H, W, C)` -> `(N, H, W, C)` float32.

    `scale` above 1 brightens (and saturates the bright parts at 1), below 1 darkens; `offset`
    lifts (or lowers) every pixel, the black background included.
    """
    images = _as_batch(images)
    if images.size and np.nanmax(images) > 1:
        raise ValueError(
            f"brighten expects pixels in [0, 1], got values up to {np.nanmax(images):g}: "
            "scale the images first, e.g. images / 255 for uint8 pixels"
        )
    if scale < 0:
        raise ValueError(f"scale must be at least 0 (a negative scale inverts the image): {scale}")
    return np.clip(images * np.float32(scale) + np.float32(offset), 0.0, 1.0)
