"""Student self-check of a lab notebook, without any hidden test (standard library only).

Checks that the file is a notebook the grader reads (``notebook.read_notebook``, the grader's
own reader), that every answer cell is present once by its nbgrader id, that every exercise
symbol is defined with the lab's signature (read from the cells' syntax, never executed for
this part), and then runs the setup, answer and visible test cells in a subprocess under the
grader's time and memory limits, reporting per exercise whether its visible test passes.

What the lab expects comes from a ``Contract`` (derived by ``course release``). The module
and its package are vendored into the release notebook's self-check cell and into the
student repository, where only the standard library is at hand.
"""
import ast
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from .notebook import (
    SETUP_ID,
    SKIP_TAG,
    TEST_PREFIX,
    NotebookError,
    cell_source,
    cell_type,
    grade_id,
    is_answer_cell,
    is_test_cell,
    read_notebook,
    scan_answers,
    tags,
)

SELFCHECK_MARKER = "# DLAI RNN lab self-check"  # first line of the self-check cell: never run by itself

# Exercise states, in the words shown to the student.
PASSED, NOT_DONE, FAILED, ERROR, TIMEOUT, MEMORY, NOT_RUN, NOT_TESTED, MISSING = (
    "passed", "not done yet", "visible test failed", "error", "time limit", "memory limit",
    "not run", "no visible test", "missing",
)


UNREADABLE_CELL = ("the answer cell cannot be read: its code nests too deeply for Python's parser (it runs out of "
                   "memory or recursion depth); write it with simpler, flatter expressions")


class Problem(NamedTuple):
    """Something the student should fix ("error") or look at ("warning")."""

    level: str
    message: str


class Exercise(NamedTuple):
    """How one exercise fared: its definition (syntax) and its visible test (run)."""

    name: str
    defined: str  # "" when the definition matches the lab's signature, else what is wrong
    status: str  # one of PASSED ... MISSING
    message: str
    optional: bool = False  # homework: reported, but it never keeps the notebook from READY


class Report:
    """Everything the self-check found about one notebook."""

    def __init__(self, path):
        self.path = Path(path)
        self.readable = False  # the grader can read the file at all
        self.problems = []  # list of Problem
        self.exercises = []  # list of Exercise, in the contract's order
        self.seconds = 0.0  # wall time of the run
        self.ran = False
        self.notes = []  # what the student should know beyond this check (e.g. the grader-run training)

    def error(self, message):
        self.problems.append(Problem("error", message))

    def warn(self, message):
        self.problems.append(Problem("warning", message))

    @property
    def errors(self):
        return [p.message for p in self.problems if p.level == "error"]

    @property
    def graded(self):
        """The exercises of the session (not the homework)."""
        return [e for e in self.exercises if not e.optional]

    @property
    def complete(self):
        """Gradable, no structural error, and every visible test of the session's exercises passes."""
        return self.readable and not self.errors and all(e.status == PASSED and not e.defined for e in self.graded)

    def exit_code(self):
        """0: ready to submit; 1: gradable but something to do; 2: the grader cannot read it."""
        return 0 if self.complete else (1 if self.readable else 2)

    def render(self):
        """The report as plain text."""
        lines = [f"Self-check of {self.path}", ""]
        for problem in self.problems:
            lines.append(f"  [{problem.level}] {problem.message}")
        if self.problems:
            lines.append("")
        if not self.readable:
            lines.append("NOT GRADABLE: the grader cannot read this file (see above).")
            return "\n".join(lines)
        if self.exercises:
            width = max(len(e.name) for e in self.exercises)
            head = "visible test" + (f" (ran in {self.seconds:.1f} s)" if self.ran else " (not run)")
            lines.append(f"  {'exercise':<{width}}  {'definition':<10}  {head}")
            for ex in self.exercises:
                defined = "ok" if not ex.defined else ("missing" if ex.status == MISSING else "WRONG")
                detail = f": {ex.message}" if ex.message else ""
                homework = " (homework)" if ex.optional else ""
                lines.append(f"  {ex.name:<{width}}  {defined:<10}  {ex.status}{detail}{homework}")
            lines.append("")
        graded = self.graded
        done = sum(e.status == PASSED for e in graded)
        todo = sum(e.status == NOT_DONE for e in graded)
        homework = [e for e in self.exercises if e.optional]
        extra = ""
        if homework:
            passed = sum(e.status == PASSED and not e.defined for e in homework)
            extra = f" Homework (optional, no points): {passed}/{len(homework)} visible tests pass."
        if self.complete:
            lines.append(f"READY: gradable, and all {done} visible tests pass. The grader runs more (hidden) tests."
                         + extra)
        else:
            what = f"{done}/{len(graded)} visible tests pass" + (f", {todo} not done yet" if todo else "")
            fix = f"; fix the {len(self.errors)} error(s) above" if self.errors else ""
            lines.append(f"GRADABLE, NOT COMPLETE: {what}{fix}.{extra}")
        for note in self.notes:
            lines += ["", f"Note: {note}"]
        return "\n".join(lines)


# --- 1. The file: the grader's own reader --------------------------------------------


def read(path, contract, report):
    """The notebook as a dict, or None with the reason recorded in ``report`` (the grader's verdict)."""
    try:
        nb = read_notebook(path, contract.limits.max_notebook_bytes, contract.limits.max_cells)
    except NotebookError as exc:
        report.error(str(exc))
        return None
    except OSError as exc:
        report.error(f"{path} cannot be read ({exc.strerror}). Check the path.")
        return None
    report.readable = True
    _check_schema(nb, report)
    return nb


def _check_schema(nb, report):
    """What nbformat's schema requires beyond what the grader strictly needs: warnings."""
    if not isinstance(nb.get("metadata"), dict) or not isinstance(nb.get("nbformat_minor"), int):
        report.warn("The notebook lacks 'metadata' or 'nbformat_minor': not valid nbformat 4. "
                    "Save it again in Jupyter.")
    for i, cell in enumerate(nb["cells"], start=1):
        bad = []
        if not isinstance(cell.get("metadata"), dict):
            bad.append("metadata")
        src = cell.get("source")
        if not (isinstance(src, str) or (isinstance(src, list) and all(isinstance(s, str) for s in src))):
            bad.append("source")
        if cell["cell_type"] == "code" and not isinstance(cell.get("outputs"), list):
            bad.append("outputs")
        if bad:
            report.warn(f"Cell {i} has a missing or invalid {', '.join(bad)}: not valid nbformat 4. "
                        "Open the notebook in Jupyter or Colab and save it again.")
            return


# --- 2. The cells: answers present once, by nbgrader id (the grader's own scan) ------


def _complain(report, contract, gid, message):
    """An error for an exercise of the session; a warning for homework, which never blocks READY."""
    if gid in contract.optional:
        report.warn(f"(homework) {message}")
    else:
        report.error(message)


def find_answers(nb, contract, report):
    """grade_id -> the source of the answer cell the grader runs; problems go to ``report``."""
    wanted = list(contract.exercises)
    scan = scan_answers(nb, wanted, contract.limits.max_answer_chars)
    duplicated = scan.duplicated()
    for gid in wanted:
        error = lambda message, gid=gid: _complain(report, contract, gid, message)
        if gid in scan.not_code and gid not in scan.found:
            error(f"The answer cell `{gid}` was turned into a {scan.not_code[gid]} cell: the grader does "
                         "not run it. Change it back to a code cell.")
        elif gid in scan.too_long and gid not in scan.found:
            error(f"The answer cell `{gid}` holds {scan.too_long[gid]:,} characters; the grader does not run "
                         f"answer cells longer than {contract.limits.max_answer_chars:,}.")
        elif gid not in scan.found:
            error(f"The answer cell `{gid}` is missing (deleted, or pasted into a new cell without its id): "
                         f"the grader gives `{gid}` 0 points. Copy that cell back from the released notebook.")
        if gid in duplicated:
            where = f"the grader reads only cell {scan.found_at[gid]}" if gid in scan.found else "none of them runs"
            error(f"{len(duplicated[gid])} cells carry the answer id `{gid}` (cells "
                         f"{', '.join(map(str, duplicated[gid]))}): {where}. "
                         "Delete the copies and keep your answer there.")
    extra = sorted({g for c in nb["cells"] if is_answer_cell(c) and (g := grade_id(c)) and g not in contract.exercises})
    if extra:
        report.warn(f"Answer cells the lab does not have ({', '.join(extra)}) are ignored by the grader.")
    ids = {grade_id(c) for c in nb["cells"]}
    for gid in contract.written:
        if gid not in ids:
            report.error(f"The written answer cell `{gid}` is missing: it is graded by hand, so copy it back "
                         "from the released notebook and answer there.")
    for gid in wanted:
        if TEST_PREFIX + gid not in ids:
            report.warn(f"The visible test cell `{TEST_PREFIX + gid}` is missing, so `{gid}` cannot be self-checked "
                        "(the grader's own tests still run). Copy it back from the released notebook.")
    return scan.found


# --- 3. Signatures, by syntax only -------------------------------------------------


def _normalise(args):
    """Parameters without annotations, numeric defaults as floats (so 1 == 1.0)."""
    args = ast.parse(f"def _({ast.unparse(args)}): pass").body[0].args  # a copy
    for arg in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
        if arg is not None:
            arg.annotation = None
    for i, default in enumerate(args.defaults):
        if isinstance(default, ast.Constant) and type(default.value) in (int, float):
            args.defaults[i] = ast.Constant(float(default.value))
    return args


def _pairs(args):
    """[(name, default or None)] of the positional parameters."""
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + [ast.unparse(d) for d in args.defaults]
    return [(a.arg, d) for a, d in zip(positional, defaults)]


def _compare(name, expected, found):
    """'' when ``found`` (ast.arguments) accepts the ``expected`` parameters, else what differs."""
    want = _normalise(ast.parse(f"def _({expected}): pass").body[0].args)
    got = _normalise(found)
    if ast.unparse(want) == ast.unparse(got):
        return ""
    # Extra trailing parameters with defaults (or *args, **kwargs) still accept every call the grader makes.
    n = len(want.args)
    extra_ok = (
        not got.posonlyargs
        and _pairs(got)[:n] == _pairs(want)
        and all(default is not None for _, default in _pairs(got)[n:])
        and all(default is not None for default in got.kw_defaults)
    )
    return "" if extra_ok else f"should be `{name}({expected})`, found `{name}({ast.unparse(found)})`"


def check_definition(gid, source, expected):
    """'' when the answer cell defines ``gid`` with the signature ``expected``, else what is wrong (never runs it)."""
    try:
        return _definition(gid, source, expected)
    except (MemoryError, RecursionError):  # a pathological cell: Python's parser or ast.unparse gives up on it
        return UNREADABLE_CELL


def _definition(gid, source, expected):
    try:
        tree = ast.parse(_python_only(source))
    except SyntaxError as exc:
        return f"syntax error on line {exc.lineno} of the answer cell: {exc.msg}"
    except ValueError:  # a null byte, or a lone surrogate that is not even UTF-8
        return "the answer cell holds characters Python cannot read (a null byte or a broken character)"
    kind = "class" if isinstance(expected, dict) else "def"
    top = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            top[node.name] = node
        elif isinstance(node, ast.Assign):
            top.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
    node = top.get(gid)
    if node is None:
        others = [n for n in top if not n.startswith("_")]
        also = f" (it defines {', '.join(f'`{n}`' for n in others)})" if others else ""
        return f"the answer cell does not define `{gid}`{also}; keep the name `{gid}` as given"
    if kind == "def":
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return f"`{gid}` should be a function: `def {gid}({expected}):`"
        return _compare(gid, expected, node.args)
    if not isinstance(node, ast.ClassDef):
        return f"`{gid}` should be a class: `class {gid}(nn.Module):`"
    if not any(ast.unparse(b).split(".")[-1] == "Module" for b in node.bases):
        return f"`{gid}` should subclass nn.Module: `class {gid}(nn.Module):`"
    methods = {m.name: m for m in node.body if isinstance(m, ast.FunctionDef)}
    for method, params in expected.items():
        if method not in methods:
            return f"`{gid}` has no `{method}` method; it should define `def {method}({params}):`"
        wrong = _compare(f"{gid}.{method}", params, methods[method].args)
        if wrong:
            return wrong
    return ""


def _python_only(source):
    """Notebook magics (`%...`, `!...`) made inert, so the rest can be parsed or run as plain Python."""
    try:
        ast.parse(source)
        return source
    except (SyntaxError, ValueError, MemoryError, RecursionError):  # check_definition reports the last two
        pass
    lines = []
    for line in source.splitlines():
        body = line.lstrip()
        if body.startswith(("%", "!")):
            line = line[:len(line) - len(body)] + "pass  # notebook magic, skipped by the self-check"
        lines.append(line)
    return "\n".join(lines) + "\n"


# --- 4. Running the cells in a subprocess -------------------------------------------

# The child process: runs the cells one by one in one namespace, each under an
# interval timer, and appends one JSON line per event to a log the parent reads
# even when the child is killed.
_RUNNER = r'''
import json, signal, sys, time, traceback
cells_file, log_file, cell_timeout, memory_mb = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
try:  # heap and anonymous memory (tensors), not mapped libraries: a CUDA build of torch maps gigabytes
    import resource
    resource.setrlimit(resource.RLIMIT_DATA, (memory_mb << 20, memory_mb << 20))
except (ImportError, ValueError, OSError):
    pass


class CellTimeout(BaseException):
    pass


def on_alarm(signum, frame):
    raise CellTimeout()


timed = hasattr(signal, "setitimer")
if timed:
    signal.signal(signal.SIGALRM, on_alarm)
log = open(log_file, "a", encoding="utf-8")


def emit(**record):
    log.write(json.dumps(record) + "\n")
    log.flush()


namespace = {"__name__": "__main__", "display": print}
for cell in json.load(open(cells_file, encoding="utf-8")):
    emit(event="start", index=cell["index"])
    record, start = {"event": "end", "index": cell["index"], "status": "ok"}, time.monotonic()
    try:
        code = compile(cell["source"], "<cell %d>" % cell["index"], "exec")
        if timed:
            signal.setitimer(signal.ITIMER_REAL, cell_timeout)
        try:
            exec(code, namespace)
        finally:
            if timed:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except CellTimeout:
        record["status"] = "timeout"
    except MemoryError:
        record["status"] = "memory"
    except BaseException as exc:
        where = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell ")]
        if isinstance(exc, SyntaxError):
            message = "%s (line %s)" % (exc.msg, exc.lineno)
        else:
            message = str(exc)
        memory = "can't allocate memory" in message or "out of memory" in message.lower()
        record.update(status="memory" if memory else "error", type=type(exc).__name__, message=message[:1000],
                      origin=[int(where[-1].filename[6:-1]), where[-1].lineno] if where else None)
    record["seconds"] = round(time.monotonic() - start, 3)
    emit(**record)
'''


class Cell(NamedTuple):
    """A code cell to run: its 1-based number, kind ('setup', 'answer', 'test', 'other') and exercise."""

    index: int
    kind: str
    exercise: str | None
    source: str


def cells_to_run(nb, exercises):
    """The code cells the self-check runs: every code cell not tagged grader-skip, in order.

    Args:
        nb: the notebook.
        exercises: the lab's exercise ids (the contract's).
    """
    cells, current = [], None
    for i, cell in enumerate(nb["cells"], start=1):
        if cell_type(cell) != "code" or SKIP_TAG in tags(cell):
            continue
        source = cell_source(cell)
        if SELFCHECK_MARKER in source:
            continue  # this self-check itself, even when copied without its tag
        gid = grade_id(cell) or ""
        if gid in exercises and is_answer_cell(cell):
            kind, current = "answer", gid
        elif is_test_cell(cell):
            kind = "test"
            named = gid[len(TEST_PREFIX):] if gid.startswith(TEST_PREFIX) else ""
            current = named if named in exercises else current
        else:
            kind = "setup" if gid == SETUP_ID else "other"
        exercise = current if kind in ("answer", "test") else None
        cells.append(Cell(i, kind, exercise, _python_only(source)))
    return cells


def _child_env():
    env = dict(os.environ)
    env.update(
        MPLBACKEND="Agg",  # plots render nowhere and never block
        CUDA_VISIBLE_DEVICES="",  # the grader runs on the CPU
        OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
    )
    return env


def run_cells(cells, cell_timeout, total_timeout, memory_mb):
    """Run cells in a fresh Python process.

    Returns:
        (records, info): records maps cell number -> its end record ({"status": "ok" | "error" |
        "timeout" | "memory" | "killed", ...}); info holds "seconds", "killed" (the total limit
        was hit), "returncode" and "output" (the last lines the process printed).
    """
    with tempfile.TemporaryDirectory(prefix="dlai-selfcheck-") as tmp:
        tmp = Path(tmp)
        (tmp / "cells.json").write_text(json.dumps([c._asdict() for c in cells]), encoding="utf-8")
        (tmp / "runner.py").write_text(_RUNNER, encoding="utf-8")
        log, out_file = tmp / "log.jsonl", tmp / "output.txt"
        cmd = [sys.executable, str(tmp / "runner.py"), str(tmp / "cells.json"), str(log), str(cell_timeout),
               str(memory_mb)]
        start, killed = time.monotonic(), False
        with open(out_file, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=tmp, env=_child_env(), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=os.name == "posix")
            try:
                proc.wait(timeout=total_timeout)
            except subprocess.TimeoutExpired:
                killed = True
            _kill(proc)
        records, started = {}, []
        if log.exists():
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("event") == "start":
                    started.append(rec["index"])
                else:
                    records[rec["index"]] = rec
        if started and started[-1] not in records:  # the cell running when the process ended
            records[started[-1]] = {"status": "timeout" if killed else "killed", "total": killed}
        info = {"seconds": time.monotonic() - start, "killed": killed, "returncode": proc.returncode,
                "output": out_file.read_text(encoding="utf-8", errors="replace")[-2000:]}
    return records, info


def _kill(proc):
    """Kill the child and everything it started."""
    if os.name == "posix":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if proc.poll() is None:
        proc.kill()
    proc.wait()


# --- 5. Putting it together --------------------------------------------------------


def _outcome(rec, exercise, by_index, limits):
    """(status, message) of an exercise (or None: another cell) from the record of its first failing cell."""
    status = rec.get("status")
    if status == "timeout":
        if rec.get("total"):
            return TIMEOUT, (f"the run passed the total limit of {limits.total_timeout_s:g} s here; "
                             "look for an endless loop")
        return TIMEOUT, f"a cell ran longer than {limits.cell_timeout_s:g} s; look for an endless or very slow loop"
    if status == "memory":
        return MEMORY, f"the {limits.memory_mb} MB memory limit was hit; look for huge tensors or lists"
    if status == "killed":
        return ERROR, "the Python process died here (a crash, or the memory limit)"
    origin = rec.get("origin")
    source_cell = by_index.get(origin[0]) if origin else None
    elsewhere = source_cell is not None and source_cell.kind == "answer" and source_cell.exercise != exercise
    if rec.get("type") == "NotImplementedError":
        return NOT_DONE, f"waits for `{source_cell.exercise}`" if elsewhere else ""
    if rec.get("type") == "AssertionError":
        return FAILED, rec.get("message") or "an assert failed"
    if elsewhere:
        return ERROR, f"{rec.get('type')} in `{source_cell.exercise}`: {rec.get('message')}"
    where = "the answer cell" if source_cell is not None and source_cell.kind == "answer" else "its cell"
    line = f" (line {origin[1]} of {where})" if origin else ""
    return ERROR, f"{rec.get('type')}: {rec.get('message')}{line}"


def check_notebook(path, contract, run=True, cell_timeout=None, total_timeout=None):
    """Check one notebook file against the lab's contract.

    Args:
        path: the .ipynb file.
        contract: the lab's Contract.
        run: also run the setup, answer and visible test cells (else only the checks by syntax).
        cell_timeout: seconds one cell may run (default: the grader's).
        total_timeout: seconds the whole run may take (default: the grader's).

    Returns:
        A Report; ``report.render()`` is the text for the student.
    """
    limits = contract.limits
    if cell_timeout is not None or total_timeout is not None:
        limits = type(limits)(**{**limits.__dict__, "cell_timeout_s": cell_timeout or limits.cell_timeout_s,
                                 "total_timeout_s": total_timeout or limits.total_timeout_s})
    report = Report(path)
    if contract.threshold.get("text"):
        report.notes.append(str(contract.threshold["text"]))
    nb = read(path, contract, report)
    if nb is None:
        return report
    answers = find_answers(nb, contract, report)
    defined = {gid: check_definition(gid, answers[gid], expected) if gid in answers else MISSING
               for gid, expected in contract.exercises.items()}
    for gid, wrong in defined.items():
        if wrong and wrong != MISSING:
            _complain(report, contract, gid, f"`{gid}`: {wrong}.")
    cells, records = [], {}
    if run:
        cells = cells_to_run(nb, contract.exercises)
        records, info = run_cells(cells, limits.cell_timeout_s, limits.total_timeout_s, limits.memory_mb)
        report.ran, report.seconds = True, info["seconds"]
        _report_other_cells(cells, records, info, limits, report)
    for gid in contract.exercises:
        report.exercises.append(_exercise(gid, defined[gid], cells, records, limits, run)._replace(
            optional=gid in contract.optional))
    return report


def _exercise(gid, defined, cells, records, limits, run):
    """The Exercise of ``gid``: its first failing cell (answer, then visible tests) decides."""
    if defined == MISSING:
        return Exercise(gid, defined, MISSING, "no answer cell")
    if not run:
        return Exercise(gid, defined, NOT_RUN, "")
    by_index = {c.index: c for c in cells}
    own = [c for c in cells if c.exercise == gid]
    for cell in own:
        rec = records.get(cell.index)
        if rec is None:
            return Exercise(gid, defined, NOT_RUN, "the run stopped before this exercise")
        if rec["status"] != "ok":
            return Exercise(gid, defined, *_outcome(rec, gid, by_index, limits))
    if not any(c.kind == "test" for c in own):
        return Exercise(gid, defined, NOT_TESTED, "its answer cell runs; there is no visible test cell to check it")
    return Exercise(gid, defined, PASSED, "")


def _report_other_cells(cells, records, info, limits, report):
    """Failures outside the exercises' own cells: the setup cell, demos, cells the student added."""
    by_index = {c.index: c for c in cells}
    for cell in cells:
        rec = records.get(cell.index)
        if cell.kind in ("answer", "test") or rec is None or rec["status"] == "ok":
            continue
        status, message = _outcome(rec, None, by_index, limits)
        if cell.kind == "setup":
            report.error(f"The setup cell (cell {cell.index}) failed: {message or status}. The cells after it cannot "
                         "work; check that torch is installed in this Python.")
        elif status != NOT_DONE:  # a demo that calls an unfinished exercise is expected to wait
            report.warn(f"Cell {cell.index} (not an exercise) failed: {message or status}. "
                        "The grader does not run cells you add, but the tests after it may need it.")
    died = info["returncode"] not in (0, None) and not info["killed"]
    if died and not any(r["status"] == "killed" for r in records.values()):
        report.warn(f"The Python process running the cells ended with code {info['returncode']}; "
                    f"its last output:\n{info['output']}")


# --- 6. Entry points: the command line and the notebook cell -----------------------


def main_check(notebook, contract):
    """`course check NB`: print the report; return 0 (ready), 1 (gradable, something to do) or 2 (not gradable)."""
    notebook = Path(notebook)
    if not notebook.is_file():
        print(f"course check: error: {notebook} is not a file; pass the path of your {contract.notebook}.",
              file=sys.stderr)
        return 2
    print(f"Checking {notebook} (the visible tests run on the CPU, up to {contract.limits.cell_timeout_s:g} s "
          "per cell)...", flush=True)
    report = check_notebook(notebook, contract)
    print(report.render())
    return report.exit_code()


def find_notebook(name, namespace=None):
    """This notebook's file: on Colab the live notebook (copied to a temp file), locally the saved file.

    Args:
        name: the lab's notebook file name.
        namespace: the notebook's globals (for the kernel's ``__session__`` hint).

    Returns:
        (path, live): path is None when the file cannot be found; live is True on Colab.
    """
    try:
        from google.colab import _message  # only on Colab
    except ImportError:
        _message = None
    if _message is not None:
        reply = _message.blocking_request("get_ipynb", timeout_sec=30)
        nb = reply.get("ipynb") if isinstance(reply, dict) else None
        if isinstance(nb, dict):
            path = Path(tempfile.gettempdir()) / "dlai-selfcheck" / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(nb), encoding="utf-8")
            return path, True
    namespace = namespace or {}
    hints = [namespace.get("__session__"), namespace.get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME")]
    for hint in hints:
        if isinstance(hint, str) and hint.endswith(".ipynb"):
            for candidate in (Path(hint), Path.cwd() / Path(hint).name):
                if candidate.is_file():
                    return candidate, False
    here = sorted(Path.cwd().glob("*.ipynb"))
    if len(here) == 1:
        return here[0], False
    named = Path.cwd() / name
    return (named if named.is_file() else None), False


def selfcheck_here(contract, namespace=None, path=None):
    """Run the self-check from a cell of the notebook itself, print the report and return it."""
    if path is None:
        path, live = find_notebook(contract.notebook, namespace)
        if path is None:
            print("The self-check could not find this notebook's file. Save it, then run in a new cell:\n"
                  f"    selfcheck_here(SELFCHECK_CONTRACT, path='path/to/{contract.notebook}')")
            return None
        print("Checking the notebook as it is open in Colab now." if live else
              f"Checking the saved file {path}: save the notebook first (Ctrl+S) so it has your latest changes.")
    print(f"Running the setup, answer and visible test cells on the CPU (up to {contract.limits.cell_timeout_s:g} s "
          "per cell)...", flush=True)
    report = check_notebook(path, contract)
    print(report.render())
    return report
