"""Course settings for the DLAI RNN lab: the one place an instructor edits.

Read by ``course.config.load_config`` into a validated, read-only object and by
``nbgrader_config.py`` for nbgrader. Plain named constants only: no code runs
here beyond literals.
"""

# --- Course -----------------------------------------------------------------
COURSE_ID = "dlai-upc"  # nbgrader course id and gradebook namespace
ASSIGNMENT = "lab_rnn"  # assignment name: source/<name>/, release/<name>/
NOTEBOOK = "lab_rnn.ipynb"  # notebook file inside the assignment folder
DUEDATE = "2026-12-18T23:59:00+01:00"  # ISO 8601; late submissions are flagged
TIMEZONE = "Europe/Madrid"  # nbgrader's timezone for timestamps

# --- Student repository -------------------------------------------------------
# The public (or GitHub Classroom template) repository that receives release/<ASSIGNMENT>/ at its
# root (`course publish`). The Colab badge, the student README and the notebook's corpus download
# point here and nowhere else; this instructor repository, with solutions and hidden checks, stays private.
STUDENT_REPO = "dlai-upc/lab-rnn-student"  # GitHub owner/name
STUDENT_BRANCH = "main"  # the branch students open and clone

# --- Corpus -----------------------------------------------------------------
# A UTF-8 text file, relative to this folder. The default is the pydoc topics text of CPython 3.11.7,
# committed so that it is the same on every Python (corpus/README.md). The release copies it beside
# the student notebook; calibration.json records its sha256.
CORPUS_PATH = "corpus/pydoc_topics.txt"
HELDOUT_FRACTION = 0.10  # last 10 percent of the corpus is held out

# --- Reproducibility --------------------------------------------------------
SEED = 20261127  # master seed: probe inputs, grader training, calibration

# --- Points per exercise (autograded) ---------------------------------------
# Each exercise's weight. Hidden checks carry their own points; their totals per
# exercise must add up to these numbers (the grader refuses to run otherwise).
# What counts toward the score depends on the exercise's mode (EXERCISES below).
POINTS = {
    "MyRNN": 12,
    "lstm_cell": 8,
    "to_batch_first": 3,
    "batch_sequences": 3,
    "rnn_output_shapes": 6,
    "top_layer_final_state": 6,
    "final_state_from_output": 6,
    "build_vocab": 3,
    "encode": 2,
    "decode": 2,
    "make_batches": 6,
    "CharLSTM": 10,
    "train_epoch": 7,
    "perplexity": 5,
    "generate": 5,
    "threshold": 17,  # the grader-trained model reaches the perplexity threshold
}
MANUAL_POINTS = 10  # written answers, graded by hand in formgrader or on the platform

# --- Which exercises the session asks for ---------------------------------------
# Each exercise's mode (an exercise not listed is "graded"; course/modes.py owns the meaning):
#   "graded":   a stub and its visible test in the release; hidden checks run; its POINTS count.
#   "optional": homework: released like a graded one and checked, its checks reported in the
#               feedback, but worth 0 points (Gradescope max_score 0, a 0-point Classroom step,
#               a 0-point nbgrader test cell); the self-check lists it without blocking READY.
#   "given":    worked code: the solution stays in the release (read-only, no stub), its visible
#               test stays as an ungraded demo, no hidden check runs, no points; the grader always
#               runs the release's version of it.
# The threshold is always graded. `course release` applies the split; the notebook's introduction
# gives the time of each part for this default (about 2 hours for a median student).
EXERCISES = {
    "MyRNN": "graded",
    "lstm_cell": "optional",
    "to_batch_first": "given",
    "batch_sequences": "given",
    "rnn_output_shapes": "graded",
    "top_layer_final_state": "optional",
    "final_state_from_output": "optional",
    "build_vocab": "given",
    "encode": "given",
    "decode": "given",
    "make_batches": "given",
    "CharLSTM": "graded",
    "train_epoch": "graded",
    "perplexity": "given",
    "generate": "graded",
}

# --- Feedback ---------------------------------------------------------------
# Gradescope visibility of the hidden checks: "visible", "hidden",
# "after_due_date" or "after_published".
HIDDEN_CHECK_VISIBILITY = "after_due_date"

# --- Grader-run training for the perplexity threshold -----------------------
# The grader trains each student's CharLSTM with their train_epoch (Adam, optimizer steps counted,
# never a wall-time budget) and measures the held-out perplexity. The recipe (learning rate, batch,
# steps) is chosen by `course calibrate` among THRESHOLD_CANDIDATES: the cheapest under which every
# correct variant of autograder/lab_rnn/variants.py passes with CALIBRATION_MARGIN to spare and every
# broken one fails by BROKEN_MARGIN. It is written to calibration.json, which grading reads.
THRESHOLD_EMBED = 64  # CharLSTM embed_size used by the grader
THRESHOLD_HIDDEN = 128  # CharLSTM hidden_size used by the grader
THRESHOLD_SEQ_LEN = 100  # characters per window
THRESHOLD_CLIP = 1.0  # the clip passed to train_epoch
THRESHOLD_CHUNK = 25  # windows per train_epoch call (an epoch's end also ends a call)
THRESHOLD_HELDOUT_STREAMS = 256  # held-out streams, fed one column per worker call
# The grid of recipes calibration chooses from (Adam's learning rate, streams per batch, optimizer
# steps); every step count is a multiple of THRESHOLD_CHUNK, so that a shorter run is the start of a longer one.
THRESHOLD_CANDIDATES = {"lr": (2e-3, 1e-2), "batch": (16, 32, 64), "steps": (100, 200, 300, 400, 500)}
CALIBRATION_SEEDS = (0, 1, 2)  # seeds of every calibration run
CALIBRATION_MARGIN = 1.10  # threshold = worst correct run x this margin
BROKEN_MARGIN = 1.25  # every broken run must reach at least threshold x this margin
THRESHOLD_BELOW_TRIGRAM = False  # True: also refuse a threshold a trigram model would pass (costs steps)
SUSPICIOUS_PERPLEXITY = 2.66  # better than xz on the held-out text: flagged for review

# --- Limits on each submission's worker ---------------------------------------
CHECK_TIMEOUT_S = 60  # wall time for one probe
SUBMISSION_TIMEOUT_S = 900  # wall time for the whole submission
THRESHOLD_TIMEOUT_S = 420  # wall time for the grader-run training
MEMORY_LIMIT_MB = 3072  # address-space / cgroup limit of the worker
MAX_PROCESSES = 64  # processes and threads the worker may hold
MAX_FILE_SIZE_MB = 64  # largest file the worker may write
MAX_OUTPUT_BYTES = 1_000_000  # captured stdout+stderr kept per submission
MAX_NOTEBOOK_BYTES = 20_000_000  # larger submitted files are rejected unread
MAX_CELLS = 2_000  # notebooks with more cells are rejected
WORKER_THREADS = 1  # torch threads per worker (two 2-thread workers thrash on 2 cores)

# --- Limits on what `course grade` unpacks from an LMS download (.zip) ---------
MAX_ARCHIVE_BYTES = 2_000_000_000  # notebooks and metadata written from one zip, in all
MAX_ARCHIVE_MEMBERS = 20_000  # entries in one zip
MAX_COMPRESSION_RATIO = 200  # a member over 1 MB compressed more than this is not unpacked (zip bomb)

# --- nbgrader -----------------------------------------------------------------
# Read by nbgrader_config.py; names follow nbgrader's configuration classes.
NBGRADER = {
    # Per-cell limit of nbgrader's Validator and autograde (nbgrader's default, 30 s, stops the
    # training cell: its 800 steps take about 170 CPU seconds on one thread). 900 s leaves a slow
    # laptop or a shared JupyterHub five times that, and still stops a runaway cell.
    "Execute.timeout": 900,
    "CourseDirectory.source_directory": "source",
    "CourseDirectory.release_directory": "release",
    "ClearSolutions.code_stub": {"python": "# YOUR CODE HERE\nraise NotImplementedError()"},
    "ClearSolutions.text_stub": "YOUR ANSWER HERE",
}
