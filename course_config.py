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

# --- Corpus -----------------------------------------------------------------
CORPUS_PATH = None  # None: Python's pydoc topics (offline everywhere); or a UTF-8 text file path
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
THRESHOLD_STEPS = 500  # optimizer steps (never a wall-time budget)
THRESHOLD_EMBED = 64  # CharLSTM embed_size used by the grader
THRESHOLD_HIDDEN = 128  # CharLSTM hidden_size used by the grader
THRESHOLD_BATCH = 64  # streams per batch
THRESHOLD_SEQ_LEN = 100  # characters per window
THRESHOLD_LR = 2e-3  # Adam learning rate
CALIBRATION_SEEDS = (0, 1, 2)  # reference runs behind the threshold
CALIBRATION_MARGIN = 1.10  # threshold = worst reference perplexity x margin
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

# --- nbgrader -----------------------------------------------------------------
# Read by nbgrader_config.py; names follow nbgrader's configuration classes.
NBGRADER = {
    "CourseDirectory.source_directory": "source",
    "CourseDirectory.release_directory": "release",
    "ClearSolutions.code_stub": {"python": "# YOUR CODE HERE\nraise NotImplementedError()"},
    "ClearSolutions.text_stub": "YOUR ANSWER HERE",
}
