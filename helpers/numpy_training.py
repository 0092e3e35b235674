"""A small CNN trained by hand in NumPy, from the forward passes of `helpers.numpy_cnn` and the
backward passes of `helpers.numpy_backprop`.

The network, as Keras would write it: Conv2D(16, 3, "same") -> ReLU -> MaxPooling2D(2) ->
Conv2D(32, 3, "same") -> ReLU -> MaxPooling2D(2) -> Flatten -> Dense(10), whose outputs are
logits; the loss is softmax cross-entropy; the optimizer Adam or SGD with momentum, as Keras
computes them.

- `init_params(filters, seed)`: the weights, a dict of float32 arrays named by layer.
- `forward(params, x)`: images `(N, 28, 28, 1)` -> logits `(N, 10)`, and what `backward` needs.
- `backward(params, cache, grad_logits)`: the loss's gradient for every weight, a dict like
  `params`.
- `optimizer_state(params)`: the optimizer's memory for `params`, all zero.
- `adam_step(params, grads, state, learning_rate)` and `momentum_step(...)`: one update of
  `params` in place, by Adam or by SGD with momentum, as Keras computes them; `OPTIMIZERS` names
  them.
- `cosine_learning_rate(peak, total_steps)`: the learning rate at each step, decaying along a
  cosine from `peak` to 0, as Keras's `CosineDecay`.
- `train_epoch(params, state, x, y, batch_size, learning_rate, rng, update)`: one pass over the
  data in shuffled minibatches, yielding each batch's loss and accuracy as it goes.
- `predict(params, x)`: the class probabilities `(N, 10)`.
- `RECIPE`: the filters, epochs, batch size, optimizer and peak learning rate it is trained with.
"""

import math

import numpy as np

from helpers.numpy_backprop import (
    conv2d_backward,
    dense,
    dense_backward,
    max_pool2d_backward,
    relu_backward,
    softmax_cross_entropy,
)
from helpers.numpy_cnn import _BLAS, conv2d, max_pool2d, relu, softmax

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
# How notebook 06 and benchmarks/train_numpy.py train it: the learning rate falls from
# `learning_rate` to 0 along a cosine over all the steps. The optimizer and its learning rate are
# the best on validation of `python benchmarks/train_numpy.py --select` (its results are in
# benchmarks/results/numpy_recipe_selection.json); three epochs are what fits in 3 minutes.
RECIPE = {
    "filters": (16, 32),
    "epochs": 3,
    "batch_size": 64,
    "optimizer": "adam",
    "learning_rate": 1e-2,
}


def init_params(filters: tuple[int, int] = (16, 32), seed: int = 0) -> dict[str, np.ndarray]:
    """He-initialised kernels and weights (normal, variance 2 / fan-in, right for ReLU layers)
    and zero biases: `conv1_kernel` `(3, 3, 1, f1)`, `conv2_kernel` `(3, 3, f1, f2)`,
    `dense_kernel` `(7 * 7 * f2, 10)`, and a `_bias` for each, float32."""
    f1, f2 = filters
    rng = np.random.default_rng(seed)
    shapes = {"conv1": (3, 3, IMAGE_SHAPE[2], f1), "conv2": (3, 3, f1, f2), "dense": (49 * f2, 10)}
    params = {}
    for layer, shape in shapes.items():
        fan_in = math.prod(shape[:-1])
        params[f"{layer}_kernel"] = rng.normal(0, math.sqrt(2 / fan_in), shape).astype(np.float32)
        params[f"{layer}_bias"] = np.zeros(shape[-1], np.float32)
    return params


def _check_images(x: np.ndarray) -> None:
    if x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"expected images of shape (N, 28, 28, 1), got {x.shape}: add the channel axis with "
            "x[..., None] (and a batch axis with x[None] for one image)"
        )


def forward(params: dict, x) -> tuple[np.ndarray, tuple]:
    """Logits `(N, 10)` for images `x` `(N, 28, 28, 1)`, and the cache: the inputs and outputs
    of the layers that the backward pass needs."""
    x = np.asarray(x, dtype=np.float32)
    _check_images(x)
    z1 = conv2d(x, params["conv1_kernel"], params["conv1_bias"], padding="same")  # (N, 28, 28, f1)
    a1 = relu(z1)
    p1 = max_pool2d(a1)  # (N, 14, 14, f1)
    z2 = conv2d(p1, params["conv2_kernel"], params["conv2_bias"], padding="same")
    a2 = relu(z2)
    p2 = max_pool2d(a2)  # (N, 7, 7, f2)
    flat = p2.reshape(len(x), -1)  # row by row, channels last, as Keras's Flatten
    logits = dense(flat, params["dense_kernel"], params["dense_bias"])
    return logits, (x, z1, a1, p1, z2, a2, p2)


def backward(params: dict, cache: tuple, grad_logits: np.ndarray) -> dict[str, np.ndarray]:
    """The gradient of the loss for every entry of `params`, from the gradient for the logits,
    layer by layer from the last to the first (the chain rule)."""
    x, z1, a1, p1, z2, a2, p2 = cache
    grads = {}
    grad_flat, grads["dense_kernel"], grads["dense_bias"] = dense_backward(
        p2.reshape(len(x), -1), params["dense_kernel"], grad_logits
    )
    grad_z2 = relu_backward(z2, max_pool2d_backward(a2, grad_flat.reshape(p2.shape)))
    grad_p1, grads["conv2_kernel"], grads["conv2_bias"] = conv2d_backward(
        p1, params["conv2_kernel"], grad_z2, padding="same"
    )
    grad_z1 = relu_backward(z1, max_pool2d_backward(a1, grad_p1))
    _, grads["conv1_kernel"], grads["conv1_bias"] = conv2d_backward(
        x, params["conv1_kernel"], grad_z1, padding="same", input_gradient=False
    )  # no layer before it needs the gradient for the images
    return grads


def optimizer_state(params: dict) -> dict:
    """The optimizer's memory for `params`, all zero: the step count, and for each weight a
    running mean of its gradient (`m`; SGD's velocity) and of its square (`v`, Adam only)."""
    return {
        "step": 0,
        "m": {name: np.zeros_like(p) for name, p in params.items()},
        "v": {name: np.zeros_like(p) for name, p in params.items()},
    }


def adam_step(
    params: dict,
    grads: dict,
    state: dict,
    learning_rate: float,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> None:
    """One Adam update of `params` (in place), with Keras's defaults and arithmetic: each weight
    moves against its gradient's running mean, divided by the root of its square's running
    mean, so every weight takes steps of about `learning_rate` whatever its gradient's scale."""
    state["step"] += 1
    t = state["step"]
    alpha = learning_rate * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)  # corrects m, v's zero start
    for name, grad in grads.items():
        m, v = state["m"][name], state["v"][name]
        m += (grad - m) * (1 - beta_1)
        v += (grad * grad - v) * (1 - beta_2)
        params[name] -= alpha * m / (np.sqrt(v) + epsilon)


def momentum_step(
    params: dict, grads: dict, state: dict, learning_rate: float, momentum: float = 0.9
) -> None:
    """One update of `params` (in place) by SGD with momentum, as Keras's `SGD(momentum=0.9)`:
    each weight keeps a velocity, `momentum` times the last one minus `learning_rate` times its
    gradient, and moves by it."""
    state["step"] += 1
    for name, grad in grads.items():
        velocity = state["m"][name]
        velocity *= momentum
        velocity -= learning_rate * grad
        params[name] += velocity


OPTIMIZERS = {"adam": adam_step, "sgd_momentum": momentum_step}


def cosine_learning_rate(peak: float, total_steps: int):
    """A function of the step (0, 1, ...) that goes from `peak` down to 0 at `total_steps` along
    half a cosine, and stays 0 after: Keras's `CosineDecay(peak, total_steps)`."""

    def learning_rate(step: int) -> float:
        return peak * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))

    return learning_rate


def train_epoch(
    params: dict, state: dict, x, y, batch_size: int, learning_rate, rng, update=adam_step
):
    """Train on `x` `(N, 28, 28, 1)`, `y` `(N,)` integer labels, once, in minibatches of
    `batch_size` in an order drawn from `rng`; `learning_rate(step)` gives each step's rate and
    `update` (`adam_step` or `momentum_step`) applies it. Yields `(loss, accuracy)` of each
    batch, measured before its update."""
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        batch = order[start : start + batch_size]
        # conv2d shares its large products out between the cores itself; the small ones (the
        # dense layer's, the first convolution's kernel gradient) are quicker on one thread than
        # with the matrix product's own threads, which keep spinning after each call and slow
        # whatever runs next.
        with _BLAS.limit(limits=1, user_api="blas"):
            logits, cache = forward(params, x[batch])
            loss, grad_logits = softmax_cross_entropy(logits, y[batch])
            grads = backward(params, cache, grad_logits)
            update(params, grads, state, learning_rate(state["step"]))
        yield loss, float(np.mean(logits.argmax(axis=1) == y[batch]))


def predict(params: dict, x, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities `(N, 10)` for images `x` `(N, 28, 28, 1)`, in batches."""
    x = np.asarray(x, dtype=np.float32)
    _check_images(x)
    if not len(x):
        return np.zeros((0, NUM_CLASSES), np.float32)
    return np.concatenate(
        [softmax(forward(params, x[i : i + batch_size])[0]) for i in range(0, len(x), batch_size)]
    )
