"""Shared code for the cnn-tutorial notebooks.

- `helpers.data`: Fashion-MNIST (found, verified, loaded, prepared, split) and a sample photo.
- `helpers.plotting`: the figures the notebooks draw.
- `helpers.numpy_cnn`: convolution, padding, pooling and friends written in NumPy.
- `helpers.numpy_backprop`: their backward passes, and central differences to check them.
- `helpers.numpy_training`: a small CNN trained by hand with them (notebook 06).
- `helpers.keras_twins`: the networks built by hand, in Keras, to check them against.
- `helpers.perturb`: shift, rotate and brighten images (notebook 09).
- `helpers.models`: the series' Keras models and the recipes they train with.
- `helpers.model_cache`: each of them trained once and kept on disk.
- `helpers.diagrams`: the explanatory figures in `images/`.
- `helpers.checks`: self-checks for the exercises, a module per lesson.
"""
