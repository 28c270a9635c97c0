"""LMS downloads as the platforms hand them out: layouts, identities, one submission per student, hostile zips."""
from __future__ import annotations

import csv
import io
import os
import re
import stat
import zipfile
from pathlib import Path

import pytest
from lms_downloads import FIXTURES, copy_download, zip_download

from course.cli import main as course_main
from course.config import load_config
from course.errors import UserError
from course.grader.results import GRADEBOOK_COLUMNS, write_gradebook
from course.grader.submission import discover, with_roster
from course.platforms import lms

CFG = load_config()
NOTEBOOK = (FIXTURES / "loose" / "zoe.ipynb").read_bytes()  # a small valid student notebook


def find(paths, tmp_path, log=None, **limits):
    """discover() as `course grade` calls it."""
    return discover([Path(p) for p in paths], CFG.assignment, notebook=CFG.notebook, timezone=CFG.timezone,
                    limits=lms.ArchiveLimits(**limits), unpack_dir=tmp_path / "unpacked",
                    log=log.append if log is not None else None)


def table(subs):
    return {s.id: (s.student_id, s.name, s.lms, s.late, s.attempt, s.timestamp) for s in subs}


def by_origin_end(subs):
    return {s.id: s.origin.rsplit("/", 1)[-1] for s in subs}


# --- each LMS's layout -------------------------------------------------------------------------


def test_moodle_download_gives_participant_ids_and_names_with_accents(tmp_path):
    subs = find([zip_download("moodle", tmp_path / "moodle.zip")], tmp_path)
    assert table(subs) == {
        "Ana_Garcia_12345": ("12345", "Ana García", "moodle", None, 1, "2026-12-17T21:05:00+01:00"),
        # two notebooks in one submission: the one named like the lab's wins; its time is the submission's
        "Bob_Smith_12346": ("12346", "Bob Smith", "moodle", None, 1, "2026-12-18T10:30:00+01:00"),
        "Carla_Diaz_Ruiz_12347": ("12347", "Carla Díaz Ruiz", "moodle", None, 1, "2026-12-18T23:58:00+01:00"),
        "Dmitri_Ivanov_12348": ("12348", "Dmitri Ivanov", "moodle", None, 1, "2026-12-16T12:00:00+01:00"),
    }
    bob = next(s for s in subs if s.student_id == "12346")
    assert bob.path.name == "lab_rnn.ipynb" and [o.origin.rsplit("/", 1)[-1] for o in bob.superseded] == [
        "scratch.ipynb"]
    dmitri = next(s for s in subs if s.student_id == "12348")
    assert "No notebook (.ipynb)" in dmitri.problem and "answers.pdf" in dmitri.problem
    assert all(not s.problem for s in subs if s is not dmitri)


def test_an_unzipped_moodle_download_reads_like_its_zip(tmp_path):
    zipped = find([zip_download("moodle", tmp_path / "moodle.zip")], tmp_path)
    unzipped = find([copy_download("moodle", tmp_path / "moodle")], tmp_path)
    assert table(unzipped) == table(zipped)


def test_moodle_without_folders_and_a_later_download_of_the_same_student(tmp_path):
    log: list[str] = []
    subs = find([zip_download("moodle", tmp_path / "moodle.zip"), copy_download("moodle-flat", tmp_path / "flat")],
                tmp_path, log)
    rows = table(subs)
    assert rows["Ana_Garcia_12345"] == ("12345", "Ana García", "moodle", None, 1, "2026-12-18T22:40:00+01:00")
    assert rows["Erik_Odegard_12349"][:2] == ("12349", "Erik Ødegård")  # folder name transliterated, name intact
    assert len([s for s in subs if s.student_id == "12345"]) == 1  # one row per student: the later download
    ana = next(s for s in subs if s.student_id == "12345")
    assert ana.origin.endswith("Ana García_12345_assignsubmission_file_lab_rnn.ipynb")
    assert [o.timestamp for o in ana.superseded] == ["2026-12-17T21:05:00+01:00"]
    assert any("12345" in line and "is not graded" in line for line in log)


def test_canvas_download_gives_user_ids_late_flags_and_resubmissions(tmp_path):
    subs = find([zip_download("canvas", tmp_path / "canvas.zip")], tmp_path)
    assert table(subs) == {
        "garciaana_5001": ("5001", "garciaana", "canvas", False, 1, "2026-12-18T20:00:00+01:00"),
        "smithbob_5002": ("5002", "smithbob", "canvas", True, 2, "2026-12-19T09:30:00+01:00"),
        "diazruizcarla_5003": ("5003", "diazruizcarla", "canvas", False, 1, "2026-12-18T12:00:00+01:00"),
    }
    assert by_origin_end(subs)["smithbob_5002"].endswith("lab_rnn-1.ipynb")  # the resubmission is graded
    carla = next(s for s in subs if s.student_id == "5003")
    assert "lab_rnn.py" in carla.problem


def test_gradescope_export_folder_or_zip_gives_sids_names_and_submission_times(tmp_path):
    folder = find([copy_download("gradescope-export", tmp_path / "export")], tmp_path)
    assert table(folder) == {
        "Ana_Garcia_A0001": ("A0001", "Ana García", "gradescope", None, 1, "2026-12-18T22:14:05.318263+01:00"),
        "Bob_Smith_A0002": ("A0002", "Bob Smith", "gradescope", None, 1, "2026-12-19T09:02:11+01:00"),
    }
    assert {s.student_id: s.email for s in folder}["A0001"] == "ana.garcia@estudiantat.upc.edu"
    assert by_origin_end(folder)["Bob_Smith_A0002"] == "my_lab.ipynb"  # .github/'s pristine copy is not graded
    zipped = find([zip_download("gradescope-export", tmp_path / "export.zip")], tmp_path)
    assert table(zipped) == table(folder)


def test_nbgrader_submitted_layout_keeps_its_timestamps_exactly(tmp_path):
    subs = find([copy_download("nbgrader", tmp_path / "course") / "submitted"], tmp_path)
    assert table(subs) == {
        "ana": ("ana", "", "nbgrader", None, 1, "2026-12-17T10:15:42.123456+01:00"),
        "bob": ("bob", "", "nbgrader", None, 1, "2026-12-19T11:00:00+01:00"),
    }


def test_a_loose_file_gets_its_stem_and_its_file_time(tmp_path):
    subs = find([copy_download("loose", tmp_path / "loose") / "zoe.ipynb"], tmp_path)
    assert table(subs) == {"zoe": ("zoe", "", "files", None, 1, "2026-12-18T15:45:30+01:00")}


def test_ruby_tags_in_gradescope_metadata_are_tolerated_and_broken_metadata_is_named(tmp_path):
    export = copy_download("gradescope-export", tmp_path / "export")
    assert "!ruby/" in (export / "submission_metadata.yml").read_text(encoding="utf-8")
    (export / "submission_metadata.yml").write_text("submission_311: [unclosed\n", encoding="utf-8")
    with pytest.raises(UserError, match="submission_metadata.yml could not be read"):
        find([export], tmp_path)


def test_a_gradescope_group_submission_is_graded_once_and_logged(tmp_path):
    export = copy_download("gradescope-export", tmp_path / "export")
    meta = export / "submission_metadata.yml"
    meta.write_text(meta.read_text(encoding="utf-8").replace(
        "    :email: bob.smith@estudiantat.upc.edu\n",
        "    :email: bob.smith@estudiantat.upc.edu\n  - :name: Zoë Park\n    :sid: 333\n"), encoding="utf-8")
    log: list[str] = []
    subs = find([export], tmp_path, log)
    assert sorted(s.student_id for s in subs) == ["A0001", "A0002"]
    assert any("group submission" in line and "Zoë Park" in line for line in log)


# --- roster ------------------------------------------------------------------------------------------


def test_roster_fills_names_and_emails_and_lists_who_is_missing(tmp_path):
    log: list[str] = []
    subs = find([zip_download("canvas", tmp_path / "canvas.zip")], tmp_path)
    filled = with_roster(subs, lms.read_roster(FIXTURES / "canvas-roster.csv"), log.append)  # UTF-8 with a BOM
    assert {s.student_id: (s.name, s.email) for s in filled}["5002"] == ("Bob Smith", "bob.smith@estudiantat.upc.edu")
    assert {s.student_id: s.name for s in filled}["5003"] == "Carla Díaz Ruiz"
    assert log == ["roster: 5004 (Dana Roe) has no submission"]  # Canvas's "smithbob" is Bob Smith: no warning


def test_roster_warns_about_strangers_and_names_that_disagree(tmp_path):
    (tmp_path / "roster.csv").write_text("ID;Name;Email\n5001;Pedro Pérez;p@x.edu\n", encoding="utf-8")
    log: list[str] = []
    subs = find([zip_download("canvas", tmp_path / "canvas.zip")], tmp_path)
    with_roster(subs, lms.read_roster(tmp_path / "roster.csv"), log.append)
    assert any("garciaana" in line and "Pedro Pérez" in line for line in log)
    assert any("5002" in line and "not in the roster" in line for line in log)


def test_moodle_grading_worksheet_works_as_a_roster(tmp_path):
    (tmp_path / "worksheet.csv").write_text(
        "Identifier,Full name,Email address,Status,Grade\n"
        "Participant 12345,Ana García,ana@x.edu,Submitted for grading,\n"
        "Participant 12347,Carla Díaz Ruiz,carla@x.edu,Submitted for grading - 1 hour 5 mins late,\n",
        encoding="utf-8")
    roster = lms.read_roster(tmp_path / "worksheet.csv")
    assert roster["12345"] == lms.RosterEntry("12345", "Ana García", "ana@x.edu", False)
    assert roster["12347"].late is True


@pytest.mark.parametrize("content, message", [
    (b"name,email\nAna,a@x\n", "no id column"),
    (b"id,name\n1,\xff\xfe\n", "not UTF-8"),
])
def test_unusable_rosters_are_refused(tmp_path, content, message):
    (tmp_path / "r.csv").write_bytes(content)
    with pytest.raises(UserError, match=message):
        lms.read_roster(tmp_path / "r.csv")
    with pytest.raises(UserError, match="No such file"):
        lms.read_roster(tmp_path / "none.csv")


# --- zips that must not hurt ---------------------------------------------------------------------


def make_zip(path: Path, members: list[tuple[str, bytes]], mode: int = 0o100644, method=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, (2026, 12, 18, 12, 0, 0))
            info.compress_type = method
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")} if folder.exists() else set()


@pytest.mark.parametrize("name", ["../evil.ipynb", "../../tmp/evil.ipynb", "/tmp/evil.ipynb", "a/../../evil.ipynb",
                                  "C:/evil.ipynb", "..\\evil.ipynb"])
def test_members_that_leave_the_archive_are_dropped(tmp_path, name):
    archive = make_zip(tmp_path / "dl.zip", [(name, NOTEBOOK), ("zoe.ipynb", NOTEBOOK)])
    log: list[str] = []
    subs = find([archive], tmp_path, log)
    assert [s.id for s in subs] == ["zoe"]
    assert any("leaves the archive" in line for line in log)
    assert not (tmp_path / "evil.ipynb").exists() and not Path("/tmp/evil.ipynb").exists()
    assert tree(tmp_path / "unpacked") == {"001-dl", "001-dl/zoe.ipynb"}


def test_a_symbolic_link_member_is_not_unpacked_and_its_student_is_told(tmp_path):
    archive = tmp_path / "moodle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("Ana García_12345_assignsubmission_file_/lab_rnn.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    (sub,) = find([archive], tmp_path)
    assert sub.student_id == "12345" and "symbolic link" in sub.problem
    assert not any(p.is_symlink() for p in (tmp_path / "unpacked").rglob("*"))


def test_a_zip_a_student_sent_is_not_opened_and_the_student_is_told(tmp_path):
    inner = make_zip(tmp_path / "inner.zip", [("lab_rnn.ipynb", NOTEBOOK)]).read_bytes()
    archive = make_zip(tmp_path / "canvas.zip", [("smithbob_5002_900002_lab_rnn.zip", inner),
                                                 ("garciaana_5001_900001_lab_rnn.ipynb", NOTEBOOK)])
    subs = {s.student_id: s for s in find([archive], tmp_path)}
    assert "an archive inside the download: not opened" in subs["5002"].problem
    assert not subs["5001"].problem


def test_a_download_zipped_once_more_is_refused_with_what_to_do(tmp_path):
    inner = zip_download("moodle", tmp_path / "moodle.zip").read_bytes()
    outer = make_zip(tmp_path / "outer.zip", [("moodle.zip", inner)])
    with pytest.raises(UserError, match=r"only another archive \(moodle.zip\): unzip it first"):
        find([outer], tmp_path)


def test_a_zip_bomb_member_is_not_unpacked(tmp_path):
    bomb = b"0" * 8_000_000
    archive = make_zip(tmp_path / "canvas.zip", [("smithbob_5002_900002_lab_rnn.ipynb", bomb), ("loose.ipynb", bomb)])
    assert archive.stat().st_size < 100_000
    log: list[str] = []
    (sub,) = find([archive], tmp_path, log)
    assert "zip bomb" in sub.problem and "compressed" in sub.problem
    assert any(re.search(r"canvas.zip:loose.ipynb is not graded: compressed [\d,]+ times \(a zip bomb\?\)", line)
               for line in log), log
    assert not any(p.is_file() for p in (tmp_path / "unpacked").rglob("*"))


def test_a_notebook_over_the_size_limit_is_not_unpacked(tmp_path):
    archive = make_zip(tmp_path / "canvas.zip", [("smithbob_5002_900002_lab_rnn.ipynb", os.urandom(3000))])
    (sub,) = find([archive], tmp_path, max_member_bytes=2000)
    assert "more than the" in sub.problem and "not unpacked" in sub.problem


@pytest.mark.parametrize("limits, message", [
    ({"max_members": 3}, "holds 4 entries, more than MAX_ARCHIVE_MEMBERS"),
    ({"max_bytes": 5000}, "more than MAX_ARCHIVE_BYTES"),
])
def test_archives_over_the_limits_are_refused_whole(tmp_path, limits, message):
    archive = make_zip(tmp_path / "dl.zip", [(f"s{i}.ipynb", NOTEBOOK) for i in range(4)])
    with pytest.raises(UserError, match=message):
        find([archive], tmp_path, **limits)
    assert tree(tmp_path / "unpacked") <= {"001-dl"}


def test_a_corrupt_member_costs_only_that_member(tmp_path):
    archive = make_zip(tmp_path / "canvas.zip", [("smithbob_5002_900002_lab_rnn.ipynb", NOTEBOOK),
                                                 ("garciaana_5001_900001_lab_rnn.ipynb", NOTEBOOK)],
                       method=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    at = data.index(NOTEBOOK[:40])
    data[at + 10] ^= 0xFF  # the first member's bytes no longer match its CRC
    archive.write_bytes(bytes(data))
    subs = {s.student_id: s for s in find([archive], tmp_path)}
    assert "corrupt in the archive" in subs["5002"].problem and not subs["5001"].problem


def test_encrypted_members_are_not_unpacked(tmp_path):
    archive = tmp_path / "canvas.zip"
    make_zip(archive, [("smithbob_5002_900002_lab_rnn.ipynb", NOTEBOOK)], method=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" flag bit
        at = data.index(signature)
        data[at + offset] |= 0x01
    archive.write_bytes(bytes(data))
    (sub,) = find([archive], tmp_path)
    assert "encrypted" in sub.problem


def test_utf8_names_without_the_zip_utf8_flag_keep_their_accents(tmp_path):
    archive = make_zip(tmp_path / "moodle.zip", [("Ana García_12345_assignsubmission_file_/lab_rnn.ipynb", NOTEBOOK)])
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # as a zip tool that sets no flag writes it
        at = data.index(signature)
        data[at + offset + 1] &= ~0x08 & 0xFF
    archive.write_bytes(bytes(data))
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist()[0].startswith("Ana Garc") and "í" not in zf.namelist()[0]  # read as cp437
    (sub,) = find([archive], tmp_path)
    assert sub.name == "Ana García" and sub.student_id == "12345"


def test_bad_archives_stop_the_command_before_anything_is_graded(tmp_path, capsys):
    good = zip_download("canvas", tmp_path / "canvas.zip")
    (tmp_path / "broken.zip").write_bytes(good.read_bytes()[:500])
    (tmp_path / "notazip.zip").write_bytes(b"this is a web page, not the download\n")
    out = tmp_path / "graded"
    code = course_main(["grade", str(good), str(tmp_path / "broken.zip"), str(tmp_path / "notazip.zip"),
                        "--out", str(out), "--no-threshold"])
    err = capsys.readouterr().err
    assert code == 2
    assert "broken.zip is not a readable zip archive" in err and "notazip.zip is not a readable zip archive" in err
    assert "Nothing was graded" in err and "Traceback" not in err
    assert not out.exists()


# --- small pieces -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, iso", [
    ("2026-12-18T10:00:00+01:00", "2026-12-18T10:00:00+01:00"),
    ("2026-12-18 09:00:00.123456789 Z", "2026-12-18T10:00:00.123456+01:00"),  # Ruby, nanoseconds
    ("2026-12-18 09:00:00.000000 UTC", "2026-12-18T10:00:00+01:00"),  # nbgrader
    ("2026-12-18 10:00:00 Europe/Madrid", "2026-12-18T10:00:00+01:00"),
    ("2026-12-18 10:00:00 +0100", "2026-12-18T10:00:00+01:00"),
    ("2026-12-18 10:00:00", "2026-12-18T10:00:00+01:00"),  # no zone: the course's
])
def test_lms_timestamps_are_read(text, iso):
    tz = lms.course_zone("Europe/Madrid")
    assert lms.iso_time(lms.parse_time(text, tz), tz, exact=True) == iso


def test_unreadable_timestamps_are_none():
    tz = lms.course_zone("Europe/Madrid")
    assert lms.parse_time("yesterday", tz) is None and lms.parse_time(None, tz) is None
    assert lms.parse_time("2026-12-18 10:00 Mars/Olympus", tz) is None


def test_names_split_as_a_gradebook_wants_them():
    assert lms.split_name("Carla Díaz Ruiz") == ("Carla", "Díaz Ruiz")
    assert lms.split_name("Smith, Bob") == ("Bob", "Smith")
    assert lms.split_name("smithbob") == ("", "")
    assert lms.same_person("smithbob", "Bob Smith") and not lms.same_person("smithbob", "Rob Smith")
    assert lms.strip_accents("Ødegård García Łukasz") == "Odegard Garcia Lukasz"


def test_the_gradebook_keeps_lms_identity(tmp_path):
    rows = [{"id": "Carla_Diaz_Ruiz_12347", "student_id": "12347", "timestamp": "2026-12-18T23:58:00+01:00",
             "score": 7.0, "max_score": 100.0, "status": "graded", "name": "Carla Díaz Ruiz",
             "email": "carla@x.edu", "lms": "moodle", "late": True}]
    write_gradebook(tmp_path / "gradebook.csv", CFG, rows)
    raw = (tmp_path / "gradebook.csv").read_bytes()
    assert "Carla Díaz Ruiz".encode() in raw  # UTF-8, accents intact
    (row,) = csv.DictReader(io.StringIO(raw.decode("utf-8")))
    assert list(row) == GRADEBOOK_COLUMNS
    assert (row["first_name"], row["last_name"], row["email"], row["late"], row["lms"], row["submission"]) == (
        "Carla", "Díaz Ruiz", "carla@x.edu", "yes", "moodle", "Carla_Diaz_Ruiz_12347")
    assert row["timestamp"] == "2026-12-18T23:58:00+01:00" and row["name"] == "Carla Díaz Ruiz"
