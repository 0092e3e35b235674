"""Self-checks for notebook 10: a learning-rate schedule, and test-time augmentation."""

from collections.abc import Callable

import keras
import numpy as np

from helpers import numpy_cnn as cnn
from helpers.checks._runner import _check, _gives
from helpers.perturb import shift

_RNG = np.random.default_rng(9)


def _keras_warmup_cosine(step, peak, warmup_steps, total_steps) -> np.float64:
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, total_steps - warmup_steps, warmup_target=peak, warmup_steps=warmup_steps
    )
    return np.float64(float(schedule(step)))


def check_warmup_cosine(fn: Callable) -> None:
    """Check fn(step, peak, warmup_steps, total_steps) -> the learning rate at `step`, against
    Keras's CosineDecay with a linear warm-up from 0."""

    def no_clamp(step, peak, warmup_steps, total_steps):
        if step < warmup_steps:
            return peak * step / warmup_steps
        t = (step - warmup_steps) / (total_steps - warmup_steps)
        return peak * (1 + np.cos(np.pi * t)) / 2

    cases = [
        ((step, 3e-3, 430, 4300), f"at step {step} of 4300 with 430 warm-up steps")
        for step in (0, 215, 430, 1000, 2365, 4000, 4300)
    ] + [((5000, 3e-3, 430, 4300), "at step 5000, after the end (4300)")]
    _check(
        "warmup_cosine",
        fn,
        _keras_warmup_cosine,
        cases,
        [
            (
                _gives(no_clamp),
                "Your function returned {got} but the answer is {expected} {where}: after "
                "total_steps the rate should stay at 0; clip t at 1 with min(1, t)",
            ),
            (
                _gives(lambda step, peak, w, total: no_clamp(max(step, w), peak, w, total)),
                "Your function returned {got} but the answer is {expected} {where}: during the "
                "warm-up the rate rises in a straight line, peak * step / warmup_steps",
            ),
            (
                _gives(
                    lambda step, peak, w, total: (
                        no_clamp(step, peak, w, total)
                        if step < w
                        else no_clamp(step * (total - w) / total + w, peak, w, total)
                    )
                ),
                "Your function returned {got} but the answer is {expected} {where}: t should "
                "run from 0 at warmup_steps to 1 at total_steps, "
                "(step - warmup_steps) / (total_steps - warmup_steps)",
            ),
        ],
    )


class _SoftColumnModel:
    """A stand-in for a Keras model whose probabilities change smoothly as an image moves."""

    def predict(self, images, verbose=0, batch_size=None):
        columns = np.asarray(images, dtype=np.float64).sum(axis=(1, 3))  # (N, W)
        weights = np.random.default_rng(columns.shape[1]).normal(size=(columns.shape[1], 10))
        return cnn.softmax(columns @ weights).astype(np.float32)


def _tta(model, images, shifts) -> np.ndarray:
    return np.mean([model.predict(shift(images, dx, dy)) for dx, dy in shifts], axis=0)


def check_test_time_augmentation(fn: Callable) -> None:
    """Check fn(model, images, shifts) -> the mean of model.predict over the shifted copies,
    `(N, 10)` probabilities."""
    cases = []
    for n, h, w, shifts in [(4, 5, 6, [(0, 0), (1, 0), (0, 1)]), (3, 6, 7, [(0, 0), (-1, 1)])]:
        images = _RNG.random((n, h, w, 1)).astype(np.float32)
        cases.append(((_SoftColumnModel(), images, shifts), f"on {n} images with shifts {shifts}"))
    _check(
        "test_time_augmentation",
        fn,
        _tta,
        cases,
        [
            (
                _gives(
                    lambda model, images, shifts: np.sum(
                        [model.predict(shift(images, dx, dy)) for dx, dy in shifts], axis=0
                    )
                ),
                "Your rows add up to the number of shifts {where}: that is the sum; divide by "
                "the number of shifts (np.mean(..., axis=0))",
            ),
            (
                _gives(lambda model, images, shifts: model.predict(images)),
                "Your output is the prediction for the unshifted images {where}: predict on "
                "shift(images, dx, dy) for each (dx, dy) in shifts",
            ),
            (
                _gives(
                    lambda model, images, shifts: np.mean(
                        [
                            np.eye(10)[model.predict(shift(images, dx, dy)).argmax(1)]
                            for dx, dy in shifts
                        ],
                        axis=0,
                    )
                ),
                "Your output counts votes {where}: average the probabilities themselves, not "
                "which class each copy picks",
            ),
            (
                _gives(lambda model, images, shifts: _tta(model, images, shifts).argmax(axis=1)),
                "Your output is {got} but should be {expected} {where}: return the averaged "
                "probabilities, one row of 10 per image, not the predicted classes",
            ),
        ],
        "one row of 10 probabilities per image: average over the shifts with axis=0",
    )
