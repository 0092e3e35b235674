"""Self-checks for the notebooks' exercises: `check_conv2d(my_conv2d)` prints one sentence.

Each check runs the student's function on a few small cases whose answers come from the
project's own code (`helpers.numpy_cnn`, `helpers.numpy_backprop`, Keras), prints "✅ ..." when
they all match, or else one "❌ ..." sentence that says what is wrong and gives a hint. It returns
nothing, so a check cell shows only that sentence. A bug in the student's function, even an
exception or an endless loop (stopped after `_runner.TIME_LIMIT_S` seconds), is reported, never
raised.

One module per lesson, each with cases of its own: `images` (notebook 01), `layers_by_hand`
(02-05), `training_by_hand` (06), `keras_classifier` (07), `inside_the_cnn` (08), `robustness`
(09), `going_further` (10); `_runner` is what they share. `from helpers.checks import
check_conv2d` loads only the module that holds the check, so the NumPy notebooks' checks never
import Keras or TensorFlow.
"""

import importlib

_MODULE_OF = {
    "check_to_model_input": "images",
    "check_shift_down": "images",
    "check_conv2d": "layers_by_hand",
    "check_horizontal_edges": "layers_by_hand",
    "check_conv2d_stride": "layers_by_hand",
    "check_output_size": "layers_by_hand",
    "check_pad": "layers_by_hand",
    "check_max_pool": "layers_by_hand",
    "check_avg_pool": "layers_by_hand",
    "check_relu": "layers_by_hand",
    "check_softmax": "layers_by_hand",
    "check_param_counts": "layers_by_hand",
    "check_relu_backward": "training_by_hand",
    "check_max_pool_backward": "training_by_hand",
    "check_numerical_gradient": "training_by_hand",
    "check_conv2d_backward": "training_by_hand",
    "check_most_confused": "keras_classifier",
    "check_per_class_accuracy": "keras_classifier",
    "check_model_shapes": "keras_classifier",
    "check_most_similar_filter": "inside_the_cnn",
    "check_feature_extractor": "inside_the_cnn",
    "check_gradient_times_input": "inside_the_cnn",
    "check_flip_left_right": "robustness",
    "check_worst_case_accuracy": "robustness",
    "check_warmup_cosine": "going_further",
    "check_test_time_augmentation": "going_further",
}
__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    """A check, loaded from its lesson's module the first time it is asked for (PEP 562)."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
