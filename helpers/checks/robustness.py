"""Self-checks for notebook 09: perturbations and robustness."""

from collections.abc import Callable

import numpy as np

from helpers.checks._runner import _check, _gives
from helpers.perturb import shift

_RNG = np.random.default_rng(8)


def check_flip_left_right(fn: Callable) -> None:
    """Check fn(images (N, H, W, C)) -> every image mirrored left to right."""
    cases = [
        ((_RNG.integers(0, 10, (2, 4, 5, 1)).astype(float),), "on 2 images of 4x5"),
        (
            (_RNG.integers(0, 10, (3, 6, 3, 2)).astype(float),),
            "on 3 images of 6x3 with 2 channels",
        ),
    ]
    _check(
        "flip_left_right",
        fn,
        lambda images: images[:, :, ::-1],
        cases,
        [
            (
                _gives(np.fliplr),
                "Your images are upside down {where}: np.fliplr flips axis 1, which is the "
                "height in (N, H, W, C); left-right is axis 2, images[:, :, ::-1]",
            ),
            (
                _gives(lambda images: images[:, ::-1]),
                "Your images are upside down {where}: axis 1 is the height; flip axis 2, the "
                "width, with images[:, :, ::-1]",
            ),
            (
                _gives(lambda images: images[::-1]),
                "You reversed the order of the images {where}: axis 0 is the batch; flip axis 2, "
                "the width",
            ),
        ],
        "a mirrored image keeps its shape",
    )


class _BrightestColumnModel:
    """A stand-in for a Keras model: predicts the class (column of the brightest pixel) % 10."""

    def predict(self, images, verbose=0, batch_size=None):
        images = np.asarray(images)
        column = images.sum(axis=-1).reshape(len(images), -1).argmax(axis=1) % images.shape[2]
        return np.eye(10, dtype=np.float32)[column % 10]


def _worst_case_accuracy(model, images, labels, shifts) -> np.float64:
    right = np.ones(len(images), dtype=bool)
    for dx, dy in shifts:
        right &= model.predict(shift(images, dx, dy), verbose=0).argmax(axis=1) == labels
    return np.float64(right.mean())


def _robustness_case(n, h, w, shifts):
    images = _RNG.random((n, h, w, 1)).astype(np.float32)
    labels = _BrightestColumnModel().predict(images).argmax(axis=1)
    labels[::3] = (labels[::3] + 1) % 10  # a third are wrong even unshifted
    where = f"on {n} images of {h}x{w} with shifts {shifts}"
    return (_BrightestColumnModel(), images, labels, shifts), where


_ROBUSTNESS_CASES = [
    _robustness_case(12, 5, 8, [(0, 0), (1, 0), (0, 1)]),
    _robustness_case(20, 6, 9, [(1, 1), (-2, 0)]),
]


def check_worst_case_accuracy(fn: Callable) -> None:
    """Check fn(model, images, labels, shifts) -> the share of images classified right under
    every shift (dx, dy) in `shifts`."""

    def per_shift(model, images, labels, shifts):
        return [
            np.mean(model.predict(shift(images, dx, dy)).argmax(axis=1) == labels)
            for dx, dy in shifts
        ]

    _check(
        "worst-case accuracy",
        fn,
        _worst_case_accuracy,
        _ROBUSTNESS_CASES,
        [
            (
                _gives(lambda *args: np.mean(per_shift(*args))),
                "Your function returned {got} but the answer is {expected} {where}: that is the "
                "average accuracy over the shifts; an image counts only if it is right under "
                "EVERY shift (keep a boolean per image and combine the shifts with &)",
            ),
            (
                _gives(lambda *args: np.min(per_shift(*args))),
                "Your function returned {got} but the answer is {expected} {where}: that is the "
                "lowest of the per-shift accuracies, but different images can fail under "
                "different shifts; keep a boolean per image and combine the shifts with &",
            ),
            (
                _gives(
                    lambda model, images, labels, shifts: np.mean(
                        model.predict(images).argmax(axis=1) == labels
                    )
                ),
                "Your function returned {got}, the accuracy on the unshifted images, {where}: "
                "shift the images, shift(images, dx, dy), for each (dx, dy) in shifts",
            ),
        ],
    )
