"""Worker ops used by the sandbox and session tests (not part of any lab)."""
import numpy as np

from course.worker.runtime import op, symbol


@op("echo")
def echo(ns, params, arrays):
    """Send params and arrays straight back."""
    return dict(params), dict(arrays)


@op("call")
def call(ns, params, arrays):
    """Call the student's function ``params['name']`` with the arrays as keyword arguments."""
    result = symbol(ns, params["name"])(**arrays)
    if isinstance(result, np.ndarray):
        return {}, {"result": result}
    return {"result": result}, {}


@op("add_one")
def add_one(ns, params, arrays):
    """Student-free arithmetic: x + 1 as float32 (the fast path of streaming calls)."""
    return {"n": int(arrays["x"].size)}, {"y": (arrays["x"] + 1).astype(np.float32)}


@op("bad_dtype")
def bad_dtype(ns, params, arrays):
    """Returns an array the wire refuses (float16)."""
    return {}, {"y": np.zeros(3, dtype=np.float16)}
