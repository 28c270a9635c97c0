"""LMS downloads for tests: the fixture trees of tests/files/lms/ zipped or copied as each LMS hands them out."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import zipfile
import zoneinfo
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "files" / "lms"
COURSE_ZONE = zoneinfo.ZoneInfo("Europe/Madrid")  # TIMEZONE of course_config.py


def file_times() -> dict[str, dt.datetime]:
    """Each fixture file's modification time as the LMS wrote it (naive, in the course's zone)."""
    raw = json.loads((FIXTURES / "times.json").read_text(encoding="utf-8"))
    return {k: dt.datetime.fromisoformat(v) for k, v in raw.items() if not k.startswith("_")}


def zip_download(tree: str, dest: Path) -> Path:
    """The fixture tree ``tree`` as its LMS zips it: members at the zip's root, deflated, dated.

    Args:
        tree: a folder of tests/files/lms (``moodle``, ``canvas``, ``gradescope-export``...).
        dest: the zip to write.

    Returns:
        ``dest``.
    """
    times = file_times()
    root = FIXTURES / tree
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            when = times.get(f"{tree}/{rel}", dt.datetime(2026, 12, 18, 12, 0, 0))
            info = zipfile.ZipInfo(rel, when.timetuple()[:6])  # a DOS time: local, no zone
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            zf.writestr(info, path.read_bytes())
    return dest


def copy_download(tree: str, dest: Path) -> Path:
    """The fixture tree ``tree`` unzipped into ``dest``, with the file times its zip holds (as unzip keeps them)."""
    shutil.copytree(FIXTURES / tree, dest)
    for rel, when in file_times().items():
        if rel.startswith(f"{tree}/"):
            stamp = when.replace(tzinfo=COURSE_ZONE).timestamp()
            os.utime(dest / rel[len(tree) + 1:], (stamp, stamp))
    return dest
