"""LMS bulk downloads: unpack zips defensively, recognise each platform's layout, read a roster."""
# `course grade` takes downloads as the platforms write them:
#   Moodle      "Download all submissions": a zip of <Full Name>_<participant id>_assignsubmission_file_/<file>
#               folders (or, without "Download submissions in folders", flat files named
#               <Full Name>_<participant id>_assignsubmission_file_<file>); names stay UTF-8.
#   Canvas      "Download Submissions": a zip of flat files <lastnamefirstname>[_LATE]_<user id>_<submission id>_<file>,
#               a resubmitted file named <file>-1, -2 ... before its extension.
#   Gradescope  "Export Submissions": submission_metadata.yml beside one submission_<id>/ folder per submission.
#   nbgrader    submitted/<student>/<assignment>/<notebook>.ipynb with timestamp.txt.
# Anything else is a plain file (its stem names it). The module reports what it found, file by file;
# course.grader.submission turns that into one submission per student.
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from course.errors import UserError

FILES, MOODLE, CANVAS, GRADESCOPE, NBGRADER = "files", "moodle", "canvas", "gradescope", "nbgrader"
GRADESCOPE_METADATA = "submission_metadata.yml"
NBGRADER_SUBMITTED = "submitted"
NBGRADER_TIMESTAMP = "timestamp.txt"
NOTEBOOK_SUFFIX = ".ipynb"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar")
SKIPPED_FOLDERS = {"__MACOSX", ".ipynb_checkpoints"}  # macOS resource forks, Jupyter's autosaves
RATIO_FLOOR_BYTES = 1_000_000  # the compression-ratio cap applies to members that unpack to more than this
METADATA_MAX_BYTES = 64_000_000  # submission_metadata.yml holds every submission's results: big, but bounded
TIMESTAMP_MAX_BYTES = 1_000
CHUNK = 1 << 16

# Moodle replaces "_" in a full name by a space, so the name part never holds an underscore.
MOODLE_FOLDER = re.compile(r"^(?P<name>[^_]+)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_$")
MOODLE_FILE = re.compile(r"^(?P<name>[^_]+)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<file>.+)$")
CANVAS_FILE = re.compile(r"^(?P<name>[^_]+)_(?:(?P<late>LATE)_)?(?P<id>\d+)_(?P<submission>\d+)_(?P<file>.+)$")
CANVAS_RESUBMITTED = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)(?P<suffix>\.[^.]+)$")  # lab_rnn-1.ipynb


class ArchiveError(UserError):
    """A downloaded archive cannot be used as a whole (corrupt, too large, too many files)."""


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive may unpack to.

    Attributes:
        max_bytes: total bytes written for one archive.
        max_members: entries in one archive.
        max_ratio: uncompressed / compressed size of one member (above RATIO_FLOOR_BYTES).
        max_member_bytes: a notebook larger than this is not unpacked (the grader would refuse it unread).
    """

    max_bytes: int = 1_000_000_000
    max_members: int = 10_000
    max_ratio: float = 200.0
    max_member_bytes: int = 20_000_000


@dataclass(frozen=True)
class Member:
    """One file of a download: where it is inside the download and, when it was unpacked, on disk.

    Attributes:
        rel: its path inside the download (POSIX, never absolute, never ``..``).
        path: the file on disk, or None when it was not unpacked.
        note: why it was not unpacked (empty when it was, or when only notebooks and metadata are unpacked).
        mtime: its modification time (seconds since the epoch), from the archive or the file system.
    """

    rel: PurePosixPath
    path: Path | None
    note: str = ""
    mtime: float | None = None


@dataclass
class Download:
    """The files of one path given to `course grade`: a folder, a single file, or an unpacked zip."""

    root: Path
    label: str  # how messages name it: the zip or the folder as given
    members: list[Member] = field(default_factory=list)
    archive: bool = False


@dataclass(frozen=True)
class Found:
    """One file of one student's submission, as the download's layout describes it.

    Attributes:
        path: the file on disk (None when it was not unpacked; ``note`` says why).
        origin: where it came from, for people: ``moodle.zip:Ana García_..._/lab_rnn.ipynb``.
        lms: FILES, MOODLE, CANVAS, GRADESCOPE or NBGRADER.
        student_id: the student's id in that LMS (empty for plain files).
        name: the student's name as the LMS gives it (UTF-8 intact).
        email: the student's email when the LMS gives it.
        late: the LMS's late flag, or None when it does not say.
        unit: the submission it belongs to (a folder, or one student's group of flat files).
        unit_time: the submission time the LMS records, or None.
        file_time: the file's own modification time, or None.
        attempt: 1, or more for a resubmission the LMS numbers (Canvas's ``-1`` is attempt 2).
        filename: the file's own name, without the LMS's prefix or resubmission number.
        id_hint: what the result folder of this student should be called before it is made safe.
        notebook: whether it is a notebook (.ipynb).
        note: why it was not unpacked.
    """

    path: Path | None
    origin: str
    lms: str
    student_id: str
    name: str = ""
    email: str = ""
    late: bool | None = None
    unit: str = ""
    unit_time: float | None = None
    file_time: float | None = None
    attempt: int = 1
    filename: str = ""
    id_hint: str = ""
    notebook: bool = True
    note: str = ""


# --- time ---------------------------------------------------------------------------


def course_zone(name: str) -> dt.tzinfo:
    """The course's time zone (TIMEZONE in course_config.py); UTC when the system lacks its tz data."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def iso_time(seconds: float, tz: dt.tzinfo, exact: bool = False) -> str:
    """ISO 8601 with its UTC offset, in the course's zone; whole seconds unless ``exact``."""
    stamp = dt.datetime.fromtimestamp(seconds if exact else int(seconds), tz)
    return stamp.isoformat()


def parse_time(value: Any, tz: dt.tzinfo) -> float | None:
    """Seconds since the epoch of an LMS timestamp, or None when it cannot be read.

    Understands datetimes (YAML's), ISO 8601 (``2026-12-18T10:00:00+01:00``, Gradescope's
    ``created_at``), Ruby's ``2026-12-18 09:00:00.123456000 Z`` and nbgrader's
    ``2026-12-18 09:00:00.000000 UTC``. A time without a zone is taken in the course's zone.
    """
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        zone: dt.tzinfo | None = None
        parts = text.split()
        if len(parts) == 3:  # date, time, zone name or offset
            text, last = f"{parts[0]}T{parts[1]}", parts[2]
            if last in ("Z", "UTC", "GMT"):
                zone = dt.UTC
            elif re.fullmatch(r"[+-]\d{2}:?\d{2}", last):
                text += last
            else:
                try:
                    zone = zoneinfo.ZoneInfo(last)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    return None
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # Ruby writes nanoseconds; Python reads microseconds
        try:
            stamp = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        if zone is not None:
            stamp = stamp.replace(tzinfo=zone)
    else:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=tz)
    return stamp.timestamp()


# --- unpacking a zip ------------------------------------------------------------------


def is_archive(path: Path) -> bool:
    """A zip to unpack: a path given to `course grade` ending in .zip, or a file that is a zip."""
    return path.suffix.lower() == ".zip" or (path.suffix.lower() != NOTEBOOK_SUFFIX and zipfile.is_zipfile(path))


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name; UTF-8 names written without the zip's UTF-8 flag are read as UTF-8 too."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name.replace("\\", "/")


def _safe_rel(name: str) -> PurePosixPath | None:
    """The member's path inside the download, or None when it is absolute or climbs out with ``..``."""
    if not name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return PurePosixPath(*parts)


def _member_time(info: zipfile.ZipInfo, tz: dt.tzinfo) -> float | None:
    """The member's modification time: the extended-timestamp field (UTC) if present, else its DOS time."""
    extra = info.extra
    while len(extra) >= 4:
        kind, size = struct.unpack("<HH", extra[:4])
        body = extra[4:4 + size]
        if kind == 0x5455 and len(body) >= 5 and body[0] & 1:  # "UT": flags, then mtime
            return float(struct.unpack("<i", body[1:5])[0])
        extra = extra[4 + size:]
    try:
        return dt.datetime(*info.date_time, tzinfo=tz).timestamp()  # DOS times are local: the course's zone
    except ValueError:
        return None


def _wanted(rel: PurePosixPath) -> bool:
    """Whether a member is unpacked: only notebooks and the layouts' metadata files are written to disk."""
    name = rel.name.lower()
    return name.endswith(NOTEBOOK_SUFFIX) or rel.name in (GRADESCOPE_METADATA, NBGRADER_TIMESTAMP)


def _unpacked(info: zipfile.ZipInfo, limits: ArchiveLimits) -> bool:
    """Whether a member will be written to disk (its size then counts against MAX_ARCHIVE_BYTES)."""
    rel = _safe_rel(_member_name(info))
    return rel is not None and _wanted(rel) and not _refusal(info, rel, limits)


def _cap(rel: PurePosixPath, limits: ArchiveLimits) -> int:
    if rel.name == GRADESCOPE_METADATA:
        return METADATA_MAX_BYTES
    if rel.name == NBGRADER_TIMESTAMP:
        return TIMESTAMP_MAX_BYTES
    return limits.max_member_bytes


def unpack_zip(archive: Path, dest: Path, limits: ArchiveLimits, tz: dt.tzinfo,
               log: Callable[[str], None]) -> Download:
    """Unpack the notebooks and metadata files of a downloaded zip into ``dest``, defensively.

    Never trusted: at most ``limits.max_members`` entries and ``limits.max_bytes`` written in
    all; a member whose path is absolute or climbs out (``..``) is dropped and logged; symbolic
    links, special files, encrypted members, nested archives, notebooks over
    ``limits.max_member_bytes``, members compressed more than ``limits.max_ratio`` times and
    corrupt members are not unpacked, and say why (the student who sent them is told).

    Args:
        archive: the zip.
        dest: an empty folder to unpack into.
        limits: the caps.
        tz: the zone of the zip's local (DOS) times.
        log: receives one line per dropped member.

    Returns:
        The download: every member with a safe path, unpacked or not.
    Raises:
        ArchiveError: the zip cannot be read, or is too large or too crowded as a whole.
    """
    label = str(archive)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(f"{label} is not a readable zip archive ({exc}): download it again.") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise ArchiveError(f"{label} holds {len(infos):,} entries, more than MAX_ARCHIVE_MEMBERS "
                               f"({limits.max_members:,}): split the download, or raise the limit in course_config.py.")
        declared = sum(i.file_size for i in infos if _unpacked(i, limits))
        if declared > limits.max_bytes:
            raise ArchiveError(f"{label} would unpack to {declared / 1e6:,.0f} MB of notebooks, more than "
                               f"MAX_ARCHIVE_BYTES ({limits.max_bytes / 1e6:,.0f} MB): split the download.")
        download = Download(root=dest, label=label, archive=True)
        written = 0
        seen: set[str] = set()
        for info in infos:
            name = _member_name(info)
            if name.endswith("/"):
                continue  # a folder entry: folders are made as needed
            rel = _safe_rel(name)
            if rel is None:
                log(f"{label}: the member {name!r} is skipped: its path leaves the archive's folder")
                continue
            if SKIPPED_FOLDERS.intersection(rel.parts[:-1]):
                continue
            mtime = _member_time(info, tz)
            note = _refusal(info, rel, limits)
            key = rel.as_posix()
            if not note and key in seen:
                note = "a second member with the same name in the archive: not unpacked"
            seen.add(key)
            if note or not _wanted(rel):
                download.members.append(Member(rel, None, note, mtime))
                continue
            target = dest.joinpath(*rel.parts)
            try:
                size = _extract(zf, info, target, min(_cap(rel, limits), limits.max_bytes - written))
            except _TooBig:
                if written + info.file_size > limits.max_bytes:
                    raise ArchiveError(f"{label} unpacks to more than MAX_ARCHIVE_BYTES "
                                       f"({limits.max_bytes / 1e6:,.0f} MB): split the download.") from None
                download.members.append(Member(rel, None, "larger than it says in the archive: not unpacked", mtime))
                continue
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                download.members.append(Member(rel, None, f"corrupt in the archive ({reason}): not unpacked", mtime))
                continue
            written += size
            if mtime is not None:
                os.utime(target, (mtime, mtime))
            download.members.append(Member(rel, target, "", mtime))
    return download


class _TooBig(Exception):
    pass


def _refusal(info: zipfile.ZipInfo, rel: PurePosixPath, limits: ArchiveLimits) -> str:
    """Why a member with a safe path is not unpacked, or an empty string."""
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link in the archive: not unpacked"
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "not a regular file in the archive: not unpacked"
    if info.flag_bits & 0x1:
        return "encrypted in the archive: not unpacked"
    if rel.name.lower().endswith(ARCHIVE_SUFFIXES):
        return "an archive inside the download: not opened (unzip it and pass its notebook)"
    if rel.name.lower().endswith(NOTEBOOK_SUFFIX) and info.file_size > limits.max_member_bytes:
        return (f"{info.file_size / 1e6:.1f} MB, more than the {limits.max_member_bytes / 1e6:.0f} MB graded: "
                "not unpacked (clear the outputs and submit again)")
    if _wanted(rel) and info.file_size > _cap(rel, limits):
        return f"{info.file_size / 1e6:.1f} MB, more than such a file can be: not unpacked"
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        return f"compressed {ratio:,.0f} times (a zip bomb?): not unpacked"
    return ""


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, cap: int) -> int:
    """Copy one member to a new file, never more than ``cap`` bytes; returns the bytes written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o644)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > cap:
                    raise _TooBig
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size


# --- folders ---------------------------------------------------------------------------


def list_folder(folder: Path, label: str | None = None) -> Download:
    """Every file under a folder, hidden folders, checkpoints and macOS resource forks left out.

    Symbolic links are listed as they are (never followed): the notebook reader refuses them.
    """
    download = Download(root=folder, label=label or str(folder))
    for here, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS)
        base = Path(here)
        for name in sorted(files):
            path = base / name
            try:
                mtime = path.lstat().st_mtime
            except OSError:
                mtime = None
            download.members.append(Member(PurePosixPath(path.relative_to(folder).as_posix()), path, "", mtime))
    return download


def single_file(path: Path) -> Download:
    """A download holding one file given on the command line."""
    try:
        mtime = path.lstat().st_mtime
    except OSError:
        mtime = None
    return Download(root=path.parent, label=str(path), members=[Member(PurePosixPath(path.name), path, "", mtime)])


# --- layouts ---------------------------------------------------------------------------


class _TolerantLoader(yaml.SafeLoader):
    """A safe YAML loader that reads Ruby's tags (``!ruby/object:...``) as plain values."""


def _plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_TolerantLoader.add_multi_constructor("!", _plain)


def _key(entry: Any, name: str) -> Any:
    """``entry[":name"]`` (Gradescope writes Ruby symbols) or ``entry["name"]``."""
    if not isinstance(entry, dict):
        return None
    return entry.get(f":{name}", entry.get(name))


def read_gradescope_metadata(path: Path) -> dict[str, dict[str, Any]]:
    """submission_metadata.yml of a Gradescope export: submission folder -> its metadata.

    Raises:
        UserError: the file is not readable YAML or not a mapping of submission folders.
    """
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_TolerantLoader)  # a SafeLoader: builds plain values only
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"{path} could not be read ({type(exc).__name__}): export the submissions again.") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not Gradescope's submission metadata (no submission folders): "
                        "export the submissions again.")
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


def gradescope_submitters(meta: dict[str, Any]) -> list[dict[str, str]]:
    """The submitters of one exported submission: [{"sid", "name", "email"}], text only."""
    people = []
    for person in _key(meta, "submitters") or []:
        if isinstance(person, dict):
            people.append({k: "" if _key(person, k) is None else str(_key(person, k)).strip()
                           for k in ("sid", "name", "email")})
    return people


# Latin letters that Unicode does not decompose into a base letter and an accent.
UNDECOMPOSED = str.maketrans({"Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ß": "ss",
                              "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Þ": "Th", "þ": "th", "ı": "i"})


def strip_accents(text: str) -> str:
    """Latin letters without their accents (García -> Garcia, Ødegård -> Odegard); other characters as they are."""
    decomposed = unicodedata.normalize("NFKD", text.translate(UNDECOMPOSED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class Scanner:
    """Recognises the layout of each file of the downloads given to `course grade`."""

    def __init__(self, assignment: str, tz: dt.tzinfo, log: Callable[[str], None]):
        self.assignment = assignment
        self.tz = tz
        self.log = log
        self._metadata: dict[Path, dict[str, dict[str, Any]] | None] = {}
        self._groups: set[Path] = set()

    def _export_root(self, folder: Path) -> tuple[Path, dict[str, dict[str, Any]]] | None:
        """The nearest folder at or above ``folder`` holding submission_metadata.yml, with its metadata."""
        for candidate in (folder, *folder.parents):
            if candidate not in self._metadata:
                meta_file = candidate / GRADESCOPE_METADATA
                self._metadata[candidate] = read_gradescope_metadata(meta_file) if meta_file.is_file() else None
            if self._metadata[candidate] is not None:
                return candidate, self._metadata[candidate]  # type: ignore[return-value]
        return None

    def scan(self, download: Download) -> list[Found]:
        """What each file of a download is: whose submission, when, which attempt."""
        found = []
        for member in download.members:
            item = self.classify(download, member)
            if item is not None:
                found.append(item)
        return found

    def classify(self, download: Download, member: Member) -> Found | None:
        """One file's place in its layout, or None for the layouts' own metadata and unrelated files."""
        where = download.root.joinpath(*member.rel.parts)
        origin = f"{download.label}:{member.rel.as_posix()}" if download.archive else str(member.path or where)
        is_nb = member.rel.name.lower().endswith(NOTEBOOK_SUFFIX)
        base = {"path": member.path, "origin": origin, "file_time": member.mtime, "note": member.note,
                "notebook": is_nb, "filename": member.rel.name}
        if member.rel.name == GRADESCOPE_METADATA:
            return None
        export = self._export_root(where.parent)
        if export is not None:
            root, meta = export
            inside = where.relative_to(root).parts
            if len(inside) >= 2 and inside[0] in meta:
                return self._gradescope(base, root / inside[0], meta[inside[0]])
        parts = where.parts
        for i in range(len(parts) - 4, -1, -1):  # .../submitted/<student>/<assignment>/.../<file>
            if parts[i] == NBGRADER_SUBMITTED and parts[i + 2] == self.assignment:
                if member.rel.name == NBGRADER_TIMESTAMP and i + 3 == len(parts) - 1:
                    return None
                return self._nbgrader(base, Path(*parts[:i + 3]))
        for folder in where.parents:  # the nearest Moodle submission folder, up to the download's own folder
            match = MOODLE_FOLDER.match(folder.name)
            if match:
                return self._moodle(base, match, unit=str(folder))
            if folder == download.root:
                break
        match = MOODLE_FILE.match(member.rel.name)
        if match:
            return self._moodle({**base, "filename": match["file"]}, match, unit=f"{download.label}#{match['id']}")
        match = CANVAS_FILE.match(member.rel.name)
        if match:
            return self._canvas(base, match, download)
        if not is_nb:
            return None
        return Found(**base, lms=FILES, student_id="", unit=origin)

    def _gradescope(self, base: dict[str, Any], folder: Path, meta: dict[str, Any]) -> Found:
        people = gradescope_submitters(meta)
        first = people[0] if people else {"sid": "", "name": "", "email": ""}
        if len(people) > 1 and folder not in self._groups:
            self._groups.add(folder)
            others = ", ".join(p["name"] or p["sid"] or p["email"] for p in people[1:])
            self.log(f"{folder.name} is a group submission: graded for {first['name'] or first['sid']}; "
                     f"give {others} the same score by hand")
        student = first["sid"] or first["email"] or folder.name
        return Found(**base, lms=GRADESCOPE, student_id=student, name=first["name"], email=first["email"],
                     unit=str(folder), unit_time=parse_time(_key(meta, "created_at"), self.tz),
                     id_hint=f"{first['name']}_{first['sid']}" if first["name"] and first["sid"] else student)

    def _nbgrader(self, base: dict[str, Any], folder: Path) -> Found:
        student = os.fsencode(folder.parent.name).decode("utf-8", "replace")  # an undecodable name stays writable
        unit_time = None
        stamp = folder / NBGRADER_TIMESTAMP
        if stamp.is_file() and not stamp.is_symlink():
            with stamp.open("rb") as fh:
                text = fh.read(TIMESTAMP_MAX_BYTES).decode("utf-8", "replace").strip()
            unit_time = parse_time(text, self.tz)
            if unit_time is None and text:
                self.log(f"{stamp}: {text[:64]!r} is not a timestamp nbgrader writes; the file's time is used")
        return Found(**base, lms=NBGRADER, student_id=student, unit=str(folder), unit_time=unit_time,
                     id_hint=student)

    def _moodle(self, base: dict[str, Any], match: re.Match[str], unit: str) -> Found:
        name = match["name"].strip()
        return Found(**base, lms=MOODLE, student_id=match["id"], name=name, unit=unit,
                     id_hint=f"{name}_{match['id']}")

    def _canvas(self, base: dict[str, Any], match: re.Match[str], download: Download) -> Found:
        filename, attempt = match["file"], 1
        again = CANVAS_RESUBMITTED.match(filename)
        if again:
            filename, attempt = again["stem"] + again["suffix"], int(again["n"]) + 1
        return Found(**{**base, "filename": filename}, lms=CANVAS, student_id=match["id"], name=match["name"],
                     late=bool(match["late"]), unit=f"{download.label}#{match['id']}_{match['submission']}",
                     attempt=attempt, id_hint=f"{match['name']}_{match['id']}")


def open_downloads(paths: list[Path], unpack_dir: Path, limits: ArchiveLimits, tz: dt.tzinfo,
                   log: Callable[[str], None]) -> list[Download]:
    """Each path as a download: zips unpacked into ``unpack_dir``, folders listed, files as they are.

    Every zip is opened before anything is graded; a zip that cannot be used as a whole stops the
    command with one message naming every such zip (an instructor's download, fixed by downloading
    it again), while a bad member costs only that member.

    Raises:
        UserError: a path does not exist, or an archive cannot be used.
    """
    downloads, problems = [], []
    for index, raw in enumerate(paths, start=1):
        path = Path(raw)
        if path.is_dir():
            downloads.append(list_folder(path))
        elif not path.exists() and not path.is_symlink():
            raise UserError(f"{path} does not exist: pass submitted .ipynb files, folders or LMS downloads (.zip).")
        elif path.is_file() and is_archive(path):
            dest = unpack_dir / f"{index:03d}-{re.sub(r'[^A-Za-z0-9._-]+', '_', path.stem)[:60]}"
            dest.mkdir(parents=True)
            try:
                download = unpack_zip(path, dest, limits, tz, log)
            except ArchiveError as exc:
                problems.append(str(exc))
                continue
            only = download.members[0].rel if len(download.members) == 1 else None
            if only is not None and only.name.lower().endswith(ARCHIVE_SUFFIXES):  # a download zipped once more
                problems.append(f"{path} holds no notebook, only another archive ({only.as_posix()}): "
                                "unzip it first, or pass the inner archive itself.")
                continue
            downloads.append(download)
        else:
            downloads.append(single_file(path))
    if problems:
        raise ArchiveError("\n".join(problems) + "\nNothing was graded.")
    return downloads


def scan_downloads(paths: list[Path], assignment: str, unpack_dir: Path, limits: ArchiveLimits, tz: dt.tzinfo,
                   log: Callable[[str], None]) -> list[Found]:
    """Every file of every download given to `course grade`, with its layout's identity.

    Args:
        paths: .ipynb files, folders and LMS downloads (.zip), as given on the command line.
        assignment: the assignment name (nbgrader's submitted/<student>/<assignment>/).
        unpack_dir: an empty folder for unpacked zips (it must outlive grading).
        limits: what one zip may unpack to.
        tz: the course's zone.
        log: receives one line per thing left out (a dropped zip member, an unreadable timestamp).

    Returns:
        The files found, in the order of the paths.
    Raises:
        UserError: a path does not exist, or a download cannot be used as a whole.
    """
    scanner = Scanner(assignment, tz, log)
    found = []
    for download in open_downloads(paths, unpack_dir, limits, tz, log):
        found.extend(scanner.scan(download))
    return found


# --- roster ----------------------------------------------------------------------------

# Header aliases, matched case-insensitively: the plain id,name,email roster, Moodle's grading
# worksheet (Identifier, Full name, Email address, Status), Canvas's gradebook export (Student, ID).
ROSTER_COLUMNS = {
    "id": ("id", "student_id", "sid", "identifier", "user id", "userid"),
    "name": ("name", "full name", "fullname", "student", "student name"),
    "first_name": ("first name", "first_name", "firstname", "given name"),
    "last_name": ("last name", "last_name", "lastname", "surname", "family name"),
    "email": ("email", "email address", "e-mail", "mail"),
    "late": ("late", "status"),
}
YES = {"yes", "y", "true", "1", "late"}


@dataclass(frozen=True)
class RosterEntry:
    """One student of the roster."""

    student_id: str
    name: str = ""
    email: str = ""
    late: bool | None = None


def read_roster(path: Path) -> dict[str, RosterEntry]:
    """Read a roster CSV (UTF-8, with or without a byte-order mark; comma or semicolon separated).

    Columns: ``id`` (the LMS's student id: Moodle's participant id, Canvas's user id,
    Gradescope's SID, nbgrader's student id), ``name`` (or first and last name), ``email``;
    optionally ``late`` (yes/no). Moodle's grading worksheet works as it is: its Identifier
    "Participant 12345" gives the id, and a Status saying "late" the late flag.

    Returns:
        Student id -> entry.
    Raises:
        UserError: the file cannot be read or has no id column.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"--roster {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise UserError(f"--roster {path} is not UTF-8 text: save it as CSV UTF-8.") from None
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns: dict[str, str] = {}
    for header in reader.fieldnames or []:
        low = header.strip().lower()
        for key, aliases in ROSTER_COLUMNS.items():
            if low in aliases and key not in columns:
                columns[key] = header
    if "id" not in columns:
        raise UserError(f"--roster {path} has no id column (its columns: {', '.join(reader.fieldnames or [])}); "
                        "write a header line: id,name,email.")
    roster: dict[str, RosterEntry] = {}
    for row in reader:
        def cell(key: str, row: dict[str, Any] = row) -> str:
            return str(row.get(columns.get(key, ""), "") or "").strip()

        student = cell("id")
        moodle = re.fullmatch(r"\D+\s(\d+)", student)  # "Participant 12345", in any language
        student = moodle.group(1) if moodle else student
        if not student:
            continue  # Canvas's "Points Possible" line, blank lines
        name = cell("name") or " ".join(p for p in (cell("first_name"), cell("last_name")) if p)
        late_text = cell("late").lower()
        late = None
        if late_text:
            late = late_text in YES or bool(re.search(r"\blate\b", late_text))
        roster[student] = RosterEntry(student, name, cell("email"), late)
    return roster


def same_person(a: str, b: str) -> bool:
    """Whether two spellings of a name hold the same letters (Canvas's "smithbob" is "Bob Smith")."""
    letters = lambda s: sorted(c for c in strip_accents(s).casefold() if c.isalpha())
    return letters(a) == letters(b)


def split_name(name: str) -> tuple[str, str]:
    """(first name, last name) of a full name: "Last, First" or "First Last Last"; ("", "") for one word."""
    if "," in name:
        last, _, first = name.partition(",")
        return first.strip(), last.strip()
    words = name.split()
    if len(words) < 2:
        return "", ""
    return words[0], " ".join(words[1:])
