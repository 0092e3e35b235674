"""Self-checks for notebook 01, images as arrays: what Keras takes, and moving an image."""

from collections.abc import Callable

import numpy as np

from helpers.checks._runner import _check, _gives


def check_to_model_input(fn: Callable) -> None:
    """Check fn(images uint8 (N, H, W)) -> float32 (N, H, W, 1) in [0, 1], what Keras takes."""
    rng = np.random.default_rng(1)  # the same cases at every call
    cases = [
        ((rng.integers(0, 256, (n, h, w), dtype=np.uint8),), f"on {n} images of {h}x{w}")
        for n, h, w in [(3, 28, 28), (1, 5, 7)]
    ]
    _check(
        "to_model_input",
        fn,
        lambda images: (images.astype(np.float32) / 255.0)[..., None],
        cases,
        [
            (
                _gives(lambda images: images[..., None]),
                "Your values go up to 255 {where}: divide by 255 to bring them into [0, 1]",
            ),
            (
                _gives(lambda images: images / 255.0),
                "Your output is {got} but Keras wants {expected} {where}: add the channel axis "
                "with images[..., None]",
            ),
        ],
        "Keras wants (N, H, W, 1): one channel, last",
    )


def check_shift_down(fn: Callable) -> None:
    """Check fn(image (H, W), pixels) -> the image moved down, zeros coming in at the top."""

    def shifted(image, pixels):
        out = np.zeros_like(image)
        out[pixels:] = image[:-pixels]
        return out

    rng = np.random.default_rng(2)  # pixels that all differ, the same at every call
    cases = [
        ((rng.permutation(36).reshape(6, 6).astype(float), 2), "on a 6x6 image moved 2 pixels"),
        ((rng.permutation(20).reshape(5, 4).astype(float), 1), "on a 5x4 image moved 1 pixel"),
    ]
    _check(
        "shift_down",
        fn,
        shifted,
        cases,
        [
            (
                _gives(lambda image, pixels: np.roll(image, pixels, axis=0)),
                "The rows that fell off the bottom came back at the top {where}: that is "
                "np.roll; fill the top rows with 0 instead",
            ),
            (
                _gives(lambda image, pixels: shifted(image[::-1], pixels)[::-1]),
                "You moved the image up {where}: moving down means row i goes to row i + pixels",
            ),
            (
                _gives(lambda image, pixels: shifted(image.T, pixels).T),
                "You moved the image sideways {where}: rows are the first axis, image[row, col]",
            ),
        ],
        "moving an image keeps its shape",
    )
