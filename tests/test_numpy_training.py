"""helpers.numpy_training's CNN against its Keras twin: the same logits, the same gradients
(TensorFlow's GradientTape), the same weights after the same Adam steps."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from threadpoolctl import threadpool_info

from helpers import numpy_training as nt
from helpers.keras_twins import training_twin


def images(rng, n):
    return rng.random((n, 28, 28, 1), dtype=np.float32)


@pytest.mark.parametrize("filters, seed, n", [((16, 32), 0, 1), ((4, 8), 1, 7), ((8, 4), 2, 32)])
def test_forward_and_backward_are_kerass(filters, seed, n):
    rng = np.random.default_rng(seed)
    params = nt.init_params(filters, seed)
    for name in params:  # biases too, so that their gradients are tested with nonzero values
        params[name] += rng.normal(0, 0.05, params[name].shape).astype(np.float32)
    x, y = images(rng, n), rng.integers(0, 10, n)
    logits, cache = nt.forward(params, x)
    loss, grad_logits = nt.softmax_cross_entropy(logits, y)
    grads = nt.backward(params, cache, grad_logits)

    twin = training_twin(params)
    with tf.GradientTape() as tape:
        twin_logits = twin(x)
        twin_loss = twin.loss(y, twin_logits)
    twin_grads = tape.gradient(twin_loss, twin.trainable_weights)
    np.testing.assert_allclose(logits, twin_logits.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(loss, float(twin_loss), rtol=1e-5)
    names = [
        f"{layer}_{kind}" for layer in ("conv1", "conv2", "dense") for kind in ("kernel", "bias")
    ]
    assert sorted(grads) == sorted(names)
    for name, twin_grad in zip(names, twin_grads, strict=True):
        scale = np.abs(twin_grad).max()
        np.testing.assert_allclose(grads[name], twin_grad.numpy(), atol=1e-4 * scale, err_msg=name)


@pytest.mark.parametrize("optimizer, peak", [("adam", 3e-3), ("sgd_momentum", 0.05)])
def test_steps_on_a_cosine_schedule_are_kerass(optimizer, peak):
    rng = np.random.default_rng(3)
    params = nt.init_params((8, 16), seed=3)
    schedule = keras.optimizers.schedules.CosineDecay(peak, decay_steps=4)
    twin = training_twin(params, learning_rate=schedule, optimizer=optimizer)
    learning_rate = nt.cosine_learning_rate(peak, total_steps=4)
    for step in range(6):
        assert learning_rate(step) == pytest.approx(float(schedule(step)), rel=1e-6, abs=1e-12)
    x, y = images(rng, 64), rng.integers(0, 10, 64)
    state = nt.optimizer_state(params)
    update = nt.OPTIMIZERS[optimizer]
    order = np.random.default_rng(0)
    steps = list(nt.train_epoch(params, state, x, y, 16, learning_rate, order, update))
    assert len(steps) == 4 and state["step"] == 4
    order = np.random.default_rng(0).permutation(64)  # the same batches, in the same order
    for start in range(0, 64, 16):
        twin.train_on_batch(x[order[start : start + 16]], y[order[start : start + 16]])
    for layer in ("conv1", "conv2", "dense"):
        kernel, bias = twin.get_layer(layer).get_weights()
        np.testing.assert_allclose(params[f"{layer}_kernel"], kernel, atol=1e-5, err_msg=layer)
        np.testing.assert_allclose(params[f"{layer}_bias"], bias, atol=1e-5, err_msg=layer)
    assert all(params[name].dtype == np.float32 for name in params)


def test_a_few_epochs_on_an_easy_task_learn_it():
    rng = np.random.default_rng(4)
    x = images(rng, 256) * 0.2
    y = rng.integers(0, 2, 256)
    x[y == 1, 10:18, 10:18] += 0.8  # class 1 has a bright square in the middle
    params = nt.init_params((4, 8), seed=4)
    state, learning_rate = nt.optimizer_state(params), nt.cosine_learning_rate(1e-2, 3 * 8)
    for _ in range(3):
        losses = [loss for loss, _ in nt.train_epoch(params, state, x, y, 32, learning_rate, rng)]
    probs = nt.predict(params, x, batch_size=100)
    assert probs.shape == (256, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    assert np.mean(probs.argmax(axis=1) == y) > 0.95 and losses[-1] < 0.3
    assert nt.predict(params, x[:0]).shape == (0, 10)


def test_train_epoch_gives_the_matrix_product_its_threads_back_between_batches():
    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    rng = np.random.default_rng(5)
    before = blas_threads()
    params = nt.init_params((4, 8))
    batches = nt.train_epoch(
        params, nt.optimizer_state(params), images(rng, 8), np.arange(8), 4, lambda step: 1e-3, rng
    )
    next(batches)
    assert blas_threads() == before  # while the caller has the batch's loss
    batches.close()


def test_an_unknown_optimizer_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"one of \['adam', 'sgd_momentum'\], got 'sgd'"):
        training_twin(nt.init_params((4, 8)), optimizer="sgd")


@pytest.mark.parametrize("shape", [(28, 28, 1), (2, 28, 28), (2, 28, 28, 3), (2, 32, 32, 1)])
def test_images_of_another_shape_are_refused_with_the_fix(shape):
    params = nt.init_params((4, 8))
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 28, 28, 1\), got"):
        nt.forward(params, np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        nt.predict(params, np.zeros(shape, np.float32))


def test_the_numpy_modules_import_neither_keras_nor_tensorflow(frameworks_imported_by):
    statement = "import helpers.numpy_cnn, helpers.numpy_backprop, helpers.numpy_training"
    assert frameworks_imported_by(statement) == []
