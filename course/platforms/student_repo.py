"""The public student repository: what release/<assignment>/ holds besides the notebook, and `course publish`."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat

from course.config import CourseConfig
from course.errors import UserError
from course.platforms.classroom import CONSTRAINTS, ENTRY, RUNNER_DIR, WORKFLOW, student_files

README = "README.md"  # the student README, at the root of the student repository
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
GENERATED_DIRS = (RUNNER_DIR,)  # folders the release owns entirely: stale files there are removed on publish


class PublishError(UserError):
    """The release cannot be published to that folder; the message says why."""


def badge_markdown(cfg: CourseConfig) -> str:
    """The "Open in Colab" badge of the student repository's notebook, as a markdown line."""
    return f"[![Open In Colab]({COLAB_BADGE})]({cfg.colab_url})"


def lab_title(cfg: CourseConfig) -> str:
    """The first heading of the source notebook (the lab's title)."""
    nb = nbformat.read(str(cfg.source_notebook), as_version=4)
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return cfg.assignment


def student_readme(cfg: CourseConfig) -> str:
    """The README of the student repository: open on Colab or locally, self-check, submit."""
    corpus, notebook = cfg.corpus_path.name, cfg.notebook
    name = cfg.student_repo.split("/", 1)[1]
    return f"""# {lab_title(cfg)}

{badge_markdown(cfg)}

This repository holds the lab notebook, `{notebook}`, and the text its language model trains on,
`{corpus}`. Your instructor generates it from the course's own repository: changes made here are
overwritten by the next release.

## Open the notebook

**On Google Colab** (nothing to install): click the badge above. Before you type anything, choose
**File > Save a copy in Drive** and work in that copy: Colab does not save into this repository, and a
copy in your Drive keeps your work between sessions. The notebook downloads `{corpus}` from this
repository by itself and prints where its corpus came from.

**On your computer**: clone the repository (or use **Code > Download ZIP**), keep `{corpus}` beside the
notebook, and open it in Jupyter:

```bash
git clone {cfg.student_url}.git
cd {name}
python -m pip install torch numpy matplotlib tqdm jupyterlab
jupyter lab {notebook}
```

The exact versions the course tests with are in `{CONSTRAINTS}` (Linux, CPU build of torch).

## Work through it

Fill in every cell that says `# YOUR CODE HERE` (replace the `raise NotImplementedError()` line), then
run the test cell right below it. Do not delete, reorder or rename cells, and keep the function names and
signatures you are given: your notebook is graded automatically, with further hidden tests, and the
written answers are graded by hand.

## Check before you submit

Save the notebook, then run the folded **Self-check** cell at its end (it works on Colab too). It tells
you whether the grader can read your notebook: every answer cell present, the expected signatures, the
visible tests within the time limits. Passing it means *gradable*, not *correct*. From a terminal in
this folder the same check runs with

```bash
python {ENTRY} run {notebook}
```

## Submit

* **From Colab**: **File > Download > Download .ipynb**, and upload that `{notebook}` where your course
  collects it (Gradescope, the course site).
* **From your computer**: save the notebook in Jupyter and upload `{notebook}` the same way.
* **With GitHub Classroom** (your own copy of this repository): commit and push `{notebook}`. The
  workflow in `{WORKFLOW}` runs the visible tests and shows their points under **Actions**; they are a
  quick signal, not your grade.

Submit only the `.ipynb` file, and keep its name.
"""


def extra_files(cfg: CourseConfig) -> dict[str, bytes]:
    """The student repository's files besides the notebook and the Classroom files: README and corpus."""
    return {README: student_readme(cfg).encode("utf-8"), cfg.corpus_path.name: cfg.corpus_path.read_bytes()}


def stale_extra_files(dest: Path, cfg: CourseConfig) -> list[str]:
    """Files of extra_files that are missing under ``dest`` or differ (for `course release --check`)."""
    return [rel for rel, data in extra_files(cfg).items()
            if not (dest / rel).is_file() or (dest / rel).read_bytes() != data]


# --- course publish ---------------------------------------------------------------


def release_files(cfg: CourseConfig) -> list[str]:
    """The files `course release` writes into release/<assignment>/, relative to it, sorted.

    Only these are published: a checkpoint folder or a results file left in release/ stays behind.
    """
    return sorted({cfg.notebook, *student_files(cfg.release_notebook, cfg), *extra_files(cfg)})


def publish(cfg: CourseConfig, dest: Path) -> tuple[list[str], list[str]]:
    """Copy release/<assignment>/ to the root of a checkout of the student repository.

    Files of the destination that the release does not have are kept (a LICENSE, say), except in
    the folders the release owns entirely (``.github/classroom/``), where they are removed.

    Args:
        cfg: the course configuration.
        dest: the student repository's working tree (a git checkout of STUDENT_REPO).

    Returns:
        (files written or unchanged, files removed), relative to ``dest``.
    Raises:
        PublishError: ``dest`` is not a folder, lies inside this repository, or holds instructor files.
    """
    dest = dest.resolve()
    root = cfg.root.resolve()
    if not dest.is_dir():
        raise PublishError(f"{dest} is not a folder: clone the student repository first "
                           f"(git clone {cfg.student_url}.git).")
    if dest == root or root in dest.parents or dest in root.parents:
        raise PublishError(f"{dest} is this instructor repository or a folder of it: publish into a separate "
                           f"checkout of {cfg.student_repo}.")
    for marker in ("course_config.py", "autograder", "source"):
        if (dest / marker).exists():
            raise PublishError(f"{dest} holds {marker}: it looks like an instructor repository, not a checkout of "
                               f"{cfg.student_repo}; publishing there would mix solutions and student files.")
    folder = cfg.release_notebook.parent
    files = release_files(cfg)
    shipped = set(files)
    removed = []
    for owned in GENERATED_DIRS:
        for path in sorted((dest / owned).rglob("*")) if (dest / owned).is_dir() else []:
            rel = path.relative_to(dest).as_posix()
            if path.is_file() and rel not in shipped:
                path.unlink()
                removed.append(rel)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / rel, target)
    return sorted(shipped), removed


def instructor_commit(root: Path) -> str:
    """The instructor repository's short commit id, or '' outside git."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def main_publish(cfg: CourseConfig, dest: Path) -> int:
    """`course publish DEST`: check the committed release, copy it into DEST and print the git commands.

    Args:
        cfg: the course configuration.
        dest: a checkout of the student repository.

    Returns:
        0 when published, 1 when the committed release is stale (nothing is copied then).
    """
    from course.authoring.release import main_release  # here: release imports this module

    if main_release(check=True, config=cfg) != 0:
        print("course publish: nothing copied; run `course release`, commit, then publish.")
        return 1
    written, removed = publish(cfg, dest)
    commit = instructor_commit(cfg.root)
    print(f"course publish: copied {len(written)} files of release/{cfg.assignment}/ into {dest}"
          + (f"; removed {len(removed)} stale: {', '.join(removed)}" if removed else ""))
    print("Review, commit and push them to the student repository:\n")
    print(f"  cd {dest}")
    print("  git add -A")
    print(f"  git commit -m 'Release {cfg.assignment}" + (f" (instructor commit {commit})'" if commit else "'"))
    print(f"  git push origin {cfg.student_branch}")
    print(f"\nStudents then open {cfg.colab_url}")
    return 0
