"""Self-checks for notebook 07: reading a trained classifier's mistakes, and checking a model
before training it."""

from collections.abc import Callable

import numpy as np

from helpers.checks._runner import _check, _gives, _raised, _unconvertible


def _labels_from_counts(counts: dict[tuple[int, int], int], rng) -> tuple[np.ndarray, np.ndarray]:
    """y_true, y_pred (uint8, like Fashion-MNIST's labels) holding each (true, predicted) pair
    `counts[pair]` times, in a shuffled order."""
    pairs = np.array([pair for pair, n in counts.items() for _ in range(n)], dtype=np.uint8)
    pairs = pairs[rng.permutation(len(pairs))]
    return pairs[:, 0], pairs[:, 1]


def _confusion_cases() -> list[tuple[tuple[np.ndarray, np.ndarray], str]]:
    """Labels whose most frequent mistake is known: (y_true, y_pred), where."""
    rng = np.random.default_rng(6)
    right = {c: 4 + (7 * c) % 11 for c in range(10)}  # every class, mostly classified right
    mistakes = [
        # The answer (6, 0), 7 times, is not the pair most mixed up in both directions together:
        # (2, 4) and (4, 2) make 5 + 5 = 10. The diagonal holds larger counts (up to 14); the
        # reverse pair (0, 6) is a smaller mistake.
        {(6, 0): 7, (0, 6): 1, (4, 2): 5, (2, 4): 5, (9, 7): 2},
        {(2, 0): 5, (0, 2): 2, (1, 3): 3, (3, 1): 1},
        # The last class counts too.
        {(9, 7): 6, (7, 9): 2, (5, 7): 4, (8, 0): 3},
    ]
    cases = []
    for extra in mistakes:
        counts = {(c, c): n for c, n in right.items()} | extra
        y_true, y_pred = _labels_from_counts(counts, rng)
        cases.append(((y_true, y_pred), f"on {len(y_true)} made-up labels"))
    return cases


_CONFUSION_CASES = _confusion_cases()


def _off_diagonal_counts(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(10, 10) counts of (true, predicted) pairs, the right answers (diagonal) set to 0."""
    counts = np.zeros((10, 10), dtype=int)
    np.add.at(counts, (y_true.astype(int), y_pred.astype(int)), 1)
    np.fill_diagonal(counts, 0)
    return counts


def _pair_problem(got, y_true: np.ndarray, y_pred: np.ndarray, where: str) -> str | None:
    """What is wrong with `got` as the most frequent (true, predicted) pair; None if right."""
    counts = _off_diagonal_counts(y_true, y_pred)
    answer = tuple(int(i) for i in np.unravel_index(np.argmax(counts), counts.shape))
    t, p = answer
    if got is None:
        return (
            f"Your function returned None {where}: end it with return (true_class, predicted_class)"
        )
    if isinstance(got, int | np.integer):
        return (
            f"Your function returned one number, {got}, {where}: return two, (true_class, "
            "predicted_class); if yours came from np.argmax of the matrix, which counts through "
            "it row by row, np.unravel_index(index, cm.shape) turns it into (row, column)"
        )
    sequence = isinstance(got, tuple | list) or (isinstance(got, np.ndarray) and got.ndim == 1)
    try:
        values = list(got) if sequence else None
    except Exception as exc:  # the output's own code raised (its __len__, say)
        return _unconvertible(got, where, exc)
    if values is not None:
        shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
        text = f"({shown})"
    else:
        text = repr(got)
    if values is not None and any(isinstance(v, str) for v in values):
        return (
            f"Your function returned {text} {where}: return the class numbers, "
            "(6, 0) say, not their names"
        )
    try:
        pair = tuple(int(v) for v in values)
        if len(pair) != 2 or any(float(v) != i for v, i in zip(values, pair, strict=True)):
            raise ValueError
    except (TypeError, ValueError):
        return (
            f"Your function returned {text} {where}: return a pair of class numbers, "
            "(true_class, predicted_class)"
        )
    except Exception as exc:  # a value's own code raised (its __float__, say)
        return _unconvertible(got, where, exc)
    if pair == answer:
        return None
    a, b = pair
    if not (0 <= a < 10 and 0 <= b < 10):
        return f"Your function returned {pair} {where}: the classes are numbered 0 to 9"
    if a == b:
        return (
            f"Your function returned ({a}, {a}) {where}: that is on the diagonal, the images of "
            f"class {a} that were classified right; set the diagonal to 0 first "
            "(np.fill_diagonal(cm, 0)) so that only mistakes are left"
        )
    if pair == (p, t):
        return (
            f"Your pair is the wrong way round {where}: you returned ({p}, {t}) but the answer is "
            f"({t}, {p}); the confusion matrix's rows are the true classes and its columns the "
            "predicted ones, so return (row, column) = (true, predicted)"
        )
    both_ways = counts + counts.T
    if both_ways[a, b] == both_ways.max():
        return (
            f"You returned ({a}, {b}) {where}: classes {a} and {b} are mixed up {both_ways[a, b]} "
            f"times in both directions together, but the most frequent single mistake is true "
            f"class {t} predicted as {p}, {counts[t, p]} times; count each direction on its own"
        )
    made = f"made {counts[a, b]} times" if counts[a, b] else "never made"
    return (
        f"You returned ({a}, {b}) {where}, a mistake {made}; the most frequent one is "
        f"({t}, {p}), made {counts[t, p]} times"
    )


def check_most_confused(fn: Callable) -> None:
    """Check fn(y_true, y_pred) -> (true_class, predicted_class), the most frequent mistake.

    y_true and y_pred hold class numbers 0 to 9 (uint8, like Fashion-MNIST's labels).
    """
    _check(
        "most_confused",
        fn,
        None,
        _CONFUSION_CASES,
        diagnose=lambda got, labels, where: _pair_problem(got, *labels, where),
    )


def _per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    return np.diag(cm) / cm.sum(axis=1)


def _confusion_matrix_cases() -> list[tuple[tuple[np.ndarray], str]]:
    rng = np.random.default_rng(8)
    y_true = rng.integers(0, 10, 600)
    y_pred = np.where(rng.random(600) < 0.8, y_true, rng.integers(0, 10, 600))
    ten = np.zeros((10, 10), dtype=int)
    np.add.at(ten, (y_true, y_pred), 1)
    matrices = [
        # Row and column sums differ; in row 1 the largest count is a mistake, not the diagonal.
        np.array([[8, 1, 1], [5, 3, 2], [0, 6, 14]]),
        np.array([[20, 2, 0, 3], [1, 9, 4, 0], [0, 3, 30, 2], [6, 0, 1, 12]]),
        ten,
    ]
    return [((m,), f"on a {m.shape[0]}x{m.shape[1]} confusion matrix") for m in matrices]


_CONFUSION_MATRIX_CASES = _confusion_matrix_cases()


def check_per_class_accuracy(fn: Callable) -> None:
    """Check fn(cm) -> the accuracy of each class (n,), from a confusion matrix (n, n).

    cm[i, j] counts the images of true class i predicted as class j; the answer is fractions
    between 0 and 1: the diagonal divided by the row sums.
    """
    answer = "Your output is {got} but should be {expected} {where}: "
    _check(
        "per_class_accuracy",
        fn,
        _per_class_accuracy,
        _CONFUSION_MATRIX_CASES,
        [
            (
                _gives(lambda cm: np.diag(cm) / cm.sum(axis=0)),
                "You divided by the column sums {where}: that is the share of each class's "
                "predictions that are right (its precision); accuracy per class divides by the "
                "row sums, the number of images of each true class",
            ),
            (
                _gives(lambda cm: np.diag(cm) / cm.sum()),
                "You divided by the total number of images {where}: divide each class by its "
                "own row sum, cm.sum(axis=1)",
            ),
            (
                _gives(np.diag),
                "You returned the number of right answers {where}: divide by the number of "
                "images of each class, cm.sum(axis=1)",
            ),
            (
                _gives(lambda cm: 100 * _per_class_accuracy(cm)),
                "Your values are 100 times too large {where}: return fractions between 0 and 1 "
                "(format them as percentages only to print them)",
            ),
            (
                _gives(lambda cm: np.diag(cm) // cm.sum(axis=1)),
                "Your accuracies are rounded down to whole numbers {where}: // is floor "
                "division; use / to divide",
            ),
            (
                _gives(lambda cm: 1 - _per_class_accuracy(cm)),
                "You computed the error rate of each class {where}: accuracy is the share of "
                "right answers, the diagonal",
            ),
            (
                _gives(lambda cm: cm.max(axis=1) / cm.sum(axis=1)),
                "You took the largest count of each row {where}: the right answers are on the "
                "diagonal, np.diag(cm), wherever the largest count is",
            ),
            (
                _gives(lambda cm: cm / cm.sum(axis=1, keepdims=True)),
                answer + "you normalised the whole matrix; keep only its diagonal, np.diag(cm)",
            ),
        ],
        "one accuracy per class, a 1-D array as long as the matrix is wide",
    )


def _model_problem(model, min_conv_layers: int) -> str:
    """What is wrong with `model` for Fashion-MNIST, or, if nothing, the ✅ sentence."""
    import keras  # here, not at the top: the other checks need only NumPy

    if model is None:
        return "❌ You passed None: end your function with return model"
    if not isinstance(model, keras.Model):
        if callable(model):
            name = getattr(model, "__name__", "your_function")
            return f"❌ You passed the function itself: call it, check_model_shapes({name}())"
        return f"❌ You passed a {type(model).__name__}, not a Keras model"
    try:
        input_shape = model.input_shape
    except (AttributeError, ValueError):
        return "❌ Your model has no input shape yet: start it with keras.Input((28, 28, 1))"
    if input_shape != (None, 28, 28, 1):
        return (
            f"❌ Your model takes inputs of shape {input_shape} but Fashion-MNIST batches are "
            "(None, 28, 28, 1): start it with keras.Input((28, 28, 1))"
        )
    output_shape = model.output_shape
    if output_shape != (None, 10):
        hint = " (did you forget Flatten before the dense layers?)" if len(output_shape) > 2 else ""
        return (
            f"❌ Your model's output has shape {output_shape} but should be (None, 10), ten "
            f"numbers per image{hint}: end it with Dense(10, activation='softmax')"
        )

    def conv_layers(layer) -> int:
        inner = getattr(layer, "layers", [])
        return isinstance(layer, keras.layers.Conv2D) + sum(conv_layers(i) for i in inner)

    convs = conv_layers(model)
    if convs < min_conv_layers:
        return (
            f"❌ Your model has {convs} Conv2D layer{'s' * (convs != 1)}; the exercise asks for "
            f"at least {min_conv_layers}: add another convolution block before Flatten"
        )
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    try:
        probs = np.asarray(model.predict(images, verbose=0))
    except Exception as exc:  # the student's model: report it, never raise it
        return _raised("Your model", exc, "on a batch of 4 images")
    if not (np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)):
        return (
            "❌ Your model's ten outputs are not probabilities (they don't sum to 1 for each "
            "image): give the last layer activation='softmax'"
        )
    return (
        f"✅ Well done: your model takes 28x28x1 images, gives 10 probabilities per image and "
        f"has {convs} Conv2D layers ({model.count_params():,} parameters)."
    )


def check_model_shapes(model, min_conv_layers: int = 3) -> None:
    """Check a Fashion-MNIST classifier without training it.

    model: a keras.Model (compiled or not: `models.fit` compiles it) that takes (N, 28, 28, 1)
    images, gives (N, 10) probabilities and has at least `min_conv_layers` Conv2D layers (nested
    models count too).
    """
    sentence = _model_problem(model, min_conv_layers)
    print(sentence if sentence.endswith(".") else f"{sentence}.")
