"""What every check shares: run the student's function on each case, compare its output with
the right answer, name the mistake, and print one sentence.

A bug in the student's function, even an exception or an endless loop (stopped after
TIME_LIMIT_S seconds), is reported, never raised.
"""

import inspect
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

# A known mistake: a test(got, expected, args) that recognises its output, and the sentence that
# explains it. The sentence may use {got} and {expected} (shapes, or values for a number) and
# {where} (the case, e.g. "on a 5x5 image with a 3x3 kernel").
Mistake = tuple[Callable[[np.ndarray, np.ndarray, tuple], bool], str]

# Seconds one call of the student's function may take before it is stopped: many times what a
# right answer needs, and short enough that a student is not left waiting.
TIME_LIMIT_S = 5.0

_ANSI_CODE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # a colour code, as in Keras's errors
_KERAS_HEADER = "Exception encountered when calling"  # the line Keras puts before the error
_DETAIL_CHARS = 240  # an error message longer than this is shortened with "…"
_SHOWN_SIZE = 49  # a failing case's arrays are printed in full when none has more numbers
_FILL_IN = "is the exercise filled in yet? Write your code where it says `# Your code here`"


class _OutOfTime(BaseException):
    """Raised in the student's function when its time is up (not an Exception, so that an
    `except Exception` in it cannot swallow it)."""


def _detail(exc: BaseException) -> str:
    """': ' and the first meaningful line of exc's message, colour codes and a final '.' removed,
    shortened with '…' if long; '' if the message is empty."""
    lines = (line.strip().rstrip(".") for line in _ANSI_CODE.sub("", str(exc)).splitlines())
    line = next((line for line in lines if line and not line.startswith(_KERAS_HEADER)), "")
    if len(line) > _DETAIL_CHARS:
        line = line[: _DETAIL_CHARS - 1].rstrip() + "…"
    return f": {line}" if line else ""


def _raised(who: str, exc: Exception, where: str) -> str:
    """The ❌ line for an exception raised by the student's code: its type and first line."""
    return f"❌ {who} raised {type(exc).__name__} {where}{_detail(exc)}."


def _unconvertible(got, where: str, exc: Exception) -> str:
    """The sentence for an output whose own code raised when it was turned into numbers."""
    return (
        f"Your function returned a {type(got).__name__} {where} that could not be turned into an "
        f"array of numbers: converting it raised {type(exc).__name__}{_detail(exc)}"
    )


def _with_time_limit(fn: Callable, args: tuple):
    """fn(*args), stopped by _OutOfTime once TIME_LIMIT_S seconds have passed.

    The limit is a SIGALRM timer, so it holds in the main thread on Linux and macOS only; on
    Windows, in another thread or when SIGALRM's handler was set outside Python, fn runs without
    a limit. A long C call (one big NumPy operation) is stopped only once it returns. The previous
    handler and timer are restored afterwards.
    """
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGALRM) is None
    ):
        return fn(*args)
    running = True

    def stop(signum, frame):
        if running:  # not once fn has returned: the alarm may be handled a moment late
            raise _OutOfTime

    previous_handler = signal.signal(signal.SIGALRM, stop)
    start = time.monotonic()
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    try:
        try:
            return fn(*args)
        finally:
            running = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            left = previous_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), previous_interval)


def _call(fn: Callable, args: tuple, where: str) -> tuple[object, str | None]:
    """Run the student's fn(*args) with the time limit: (its result, None), or (None, the ❌ line)
    if it raised or did not return in time."""
    try:
        return _with_time_limit(fn, args), None
    except _OutOfTime:
        return None, (
            f"❌ Your function did not return within {TIME_LIMIT_S:g} seconds {where}, so it was "
            "stopped: look for a loop that never ends (e.g. a while loop whose condition stays "
            "true)."
        )
    except Exception as exc:  # the student's bug: report it, never raise it
        return None, _raised("Your function", exc, where)


def _same(got: np.ndarray, expected) -> bool:
    expected = np.asarray(expected, dtype=float)
    return got.shape == expected.shape and np.allclose(
        got, expected, rtol=1e-5, atol=1e-6, equal_nan=True
    )


def _gives(wrong: Callable[..., object]) -> Callable[[np.ndarray, np.ndarray, tuple], bool]:
    """The test for a mistake made by the function `wrong` (it gets the case's arguments)."""

    def test(got, expected, args):
        try:
            return _same(got, wrong(*args))
        except ValueError:  # that mistake can't be made on this case (e.g. a reshape that fails)
            return False

    return test


def _cropped(got: np.ndarray, expected: np.ndarray, args: tuple) -> bool:
    """Is got the top-left part of the right answer (the loops stopped too early)?"""
    return (
        got.ndim == expected.ndim
        and got.shape != expected.shape
        and all(g <= e for g, e in zip(got.shape, expected.shape, strict=True))
        and _same(got, expected[tuple(slice(g) for g in got.shape)])
    )


def _last_row_or_column_zero(got: np.ndarray, expected: np.ndarray, args: tuple) -> bool:
    """Is got right except for zeros in its last row or column (the loops stopped too early)?"""
    if got.shape != expected.shape or got.ndim != 2:
        return False
    wrong = ~np.isclose(got, expected, rtol=1e-5, atol=1e-6)
    wrong[-1, :] &= got[-1, :] != 0
    wrong[:, -1] &= got[:, -1] != 0
    return not wrong.any()


def _shown(a: np.ndarray) -> str:
    """How an output is named in a sentence: '3' for a number, '4x4' or 'of shape (3,)'."""
    if a.ndim == 0:
        return f"{a:g}"
    return "x".join(map(str, a.shape)) if a.ndim == 2 else f"of shape {a.shape}"


def _shown_in_full(arrays: dict[str, np.ndarray]) -> str:
    """Small arrays printed one under the other, each after its name; '' if any is large."""
    if any(a.ndim > 2 or a.size > _SHOWN_SIZE for a in arrays.values()):
        return ""
    return "".join(f"\n{name}:\n{np.array2string(a, precision=4)}" for name, a in arrays.items())


def _argument_names(fn: Callable) -> list[str]:
    """The names of fn's arguments, in order; [] when Python cannot tell."""
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def _not_filled_in(got: np.ndarray, expected: np.ndarray, args: tuple) -> str | None:
    """The sentence for what an exercise's template returns: an input unchanged, or zeros."""
    if any(isinstance(a, np.ndarray) and a.shape == got.shape and _same(got, a) for a in args):
        what = "one of its inputs unchanged"
    elif got.shape == expected.shape and not got.any() and expected.any():
        what = "only zeros"
    else:
        return None
    return f"Your function returned {what} {{where}}: {_FILL_IN}"


def _diagnose(got, expected, args, where, mistakes, size_hint, names=()) -> str | None:
    """What is wrong with the student's output `got`, as a sentence (then, for values that
    differ in a small case, the arrays on the lines below); None if it is right. `names` are
    fn's arguments' names, to show the inputs by."""
    if got is None:
        return f"Your function returned None {where}: {_FILL_IN}, and end it with return"
    if isinstance(expected, int) and not isinstance(got, int | np.integer):
        return (
            f"Your function returned {got} ({type(got).__name__}) {where}, which is not an int: "
            "a size is a whole "
            "number, so use // (floor division) or int(...)"
        )
    got_dtype = getattr(got, "dtype", None)
    if getattr(got_dtype, "kind", None) == "c":
        return (
            f"Your function returned complex numbers ({got_dtype}) {where}: the answer is real, "
            "so look for a 1j or the square root of a negative number"
        )
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return f"Your function returned a {type(got).__name__} {where}, not an array of numbers"
    except Exception as exc:  # the output's own code raised (its __array__, say)
        return _unconvertible(got, where, exc)
    wanted_dtype = getattr(expected, "dtype", None)
    expected = np.asarray(expected, dtype=float)
    if _same(got, expected):
        if wanted_dtype == np.float32 and got_dtype != np.float32:
            return (
                f"The values are right but their type is {got_dtype} {where}: Keras computes in "
                "float32, so convert with .astype('float32')"
            )
        return None
    if expected.ndim == 0:
        fallback = "Your function returned {got} but the answer is {expected} {where}"
    elif got.shape == expected.shape[::-1] and _same(got, expected.T):
        fallback = (
            "Your output is transposed {where}: rows and columns are swapped; out[i, j] should "
            "come from the window at row i, column j"
        )
    elif got.shape != expected.shape:
        fallback = "Your output is {got} but should be {expected} {where}: " + size_hint
    else:
        diff = np.abs(got - expected)
        at = np.unravel_index(np.argmax(np.where(np.isnan(diff), np.inf, diff)), diff.shape)
        names = names or [f"input {i + 1}" for i in range(len(args))]
        inputs = {n: a for n, a in zip(names, args, strict=False) if isinstance(a, np.ndarray)}
        fallback = (
            f"The shape is right but the values differ (largest difference {diff[at]:.4g}, at "
            f"out{list(map(int, at))}) {{where}}"
            + _shown_in_full(inputs | {"the right answer": expected, "yours": got})
        )
    sentence = next((text for test, text in mistakes if test(got, expected, args)), None)
    sentence = sentence or _not_filled_in(got, expected, args) or fallback
    return sentence.format(got=_shown(got), expected=_shown(expected), where=where)


def _check(
    name: str,
    fn: Callable,
    reference: Callable | None,
    cases: Sequence[tuple[tuple, str]],
    mistakes: Sequence[Mistake] = (),
    size_hint: str = "",
    diagnose: Callable[[object, tuple, str], str | None] | None = None,
) -> None:
    """Run fn on each case (args, where) and print one sentence: all right, or what is wrong.

    reference(*args) is the right answer. On the first wrong case the sentence is the first
    mistake that recognises fn's output, or else says how the output differs: transposed, of the
    wrong size (then `size_hint` says what the size should be) or with other values. A check
    whose answers are not arrays passes `diagnose(got, args, where)` instead of a reference: the
    sentence for what is wrong, None if nothing is.
    """
    for args, where in cases:
        copies = tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)
        with np.errstate(all="ignore"):  # overflow in exp is diagnosed, not warned about
            got, failure = _call(fn, copies, where)
            if failure is not None:
                print(failure)
                return
            changed = any(
                isinstance(a, np.ndarray) and not np.array_equal(a, c, equal_nan=True)
                for a, c in zip(args, copies, strict=True)
            )
            if changed:
                sentence = (
                    f"Your function changed its input {where}: the caller's array must stay as "
                    "it was, so build a new array (np.maximum(x, 0), np.zeros(...)) or work on "
                    "x.copy()"
                )
            elif diagnose is not None:
                sentence = diagnose(got, args, where)
            else:
                expected, names = reference(*args), _argument_names(fn)
                sentence = _diagnose(got, expected, args, where, mistakes, size_hint, names)
        if sentence is not None:
            first, *arrays = sentence.split("\n")
            print("\n".join([f"❌ {first}.", *arrays]))
            return
    print(f"✅ Well done: your {name} matches on all {len(cases)} cases.")
