"""Time training steps with TensorFlow's oneDNN kernels off and on, on this CPU.

    python benchmarks/onednn.py              # build_cnn and build_vgg (float32), 20 steps each
    python benchmarks/onednn.py --steps 50

TensorFlow switches oneDNN on by itself only on some x86 CPUs (those with AVX-512 VNNI, bfloat16
or AMX units); elsewhere it uses Eigen's kernels. The Makefile sets TF_ENABLE_ONEDNN_OPTS=1 on
x86-64 so that every machine uses oneDNN. Each setting runs in a fresh process (TensorFlow reads
the variable once, at import), twice, alternating, and the best time of each is kept. The ratio
is the measurement; the milliseconds depend on the machine and its load (printed).
"""

import argparse
import os
import subprocess
import sys

STEP = """
import time, numpy as np
from helpers import models
builder = {"cnn": models.build_cnn, "vgg": lambda: models.build_vgg("float32")}[NAME]
x = np.random.default_rng(0).random((128, 28, 28, 1), dtype=np.float32)
y = np.arange(128) % 10
model = models.compile_for(builder(), models.CNN_RECIPE)
model.train_on_batch(x, y)  # builds the graph: not timed
start = time.perf_counter()
for _ in range(STEPS):
    model.train_on_batch(x, y)
print((time.perf_counter() - start) / STEPS)
"""


def seconds_per_step(name: str, onednn: str, steps: int) -> float:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = STEP.replace("NAME", repr(name)).replace("STEPS", str(steps))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps (batches of 128)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    for name in ("cnn", "vgg"):
        best = {"0": float("inf"), "1": float("inf")}
        for _ in range(2):
            for onednn in best:
                best[onednn] = min(best[onednn], seconds_per_step(name, onednn, args.steps))
        print(
            f"{name}: oneDNN off {1000 * best['0']:6.0f} ms per step, on "
            f"{1000 * best['1']:6.0f} ms; off / on = {best['0'] / best['1']:.2f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
