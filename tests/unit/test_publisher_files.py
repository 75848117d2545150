"""State files: written to every folder, one failure reported by path without stopping the others."""

from __future__ import annotations

import errno
import json
import os

from services.publisher.files import StateFileBatch, state_dirs, write_state_files
from shared.contracts.vocabulary import KPIS_FILE, NAV_FILE, POSITIONS_FILE


def test_documents_go_to_every_folder(tmp_path):
    dirs = state_dirs(tmp_path / "state", tmp_path / "dash")
    assert write_state_files(dirs, {NAV_FILE: {"seq": 1}, KPIS_FILE: {"k": None}}) == []
    for d in dirs:
        assert json.loads((d / NAV_FILE).read_text()) == {"seq": 1}
        assert json.loads((d / KPIS_FILE).read_text()) == {"k": None}


def test_the_same_folder_named_twice_is_written_once(tmp_path):
    (tmp_path / "state").mkdir()
    assert state_dirs(tmp_path / "state", tmp_path / "state" / ".") == [tmp_path / "state"]


def test_a_failing_folder_is_reported_by_path_and_the_other_is_still_written(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a regular file where a folder should be")
    good = tmp_path / "dash"
    errors = write_state_files([blocked, good], {NAV_FILE: {"seq": 2}})
    assert len(errors) == 1
    assert errors[0].startswith(f"state file {blocked / NAV_FILE}: ") and "kept the previous file" in errors[0]
    assert json.loads((good / NAV_FILE).read_text()) == {"seq": 2}


def test_one_failing_file_does_not_stop_the_others_nor_leave_a_temp_file(tmp_path):
    state = tmp_path / "state"
    assert write_state_files([state], {NAV_FILE: {"seq": 1}}) == []
    # A folder where the new file would go makes the rename fail (as root too, unlike chmod).
    victim = state / KPIS_FILE
    victim.mkdir()
    (victim / "keep").write_text("x")
    errors = write_state_files([state], {NAV_FILE: {"seq": 2}, KPIS_FILE: {"k": 1}})
    assert len(errors) == 1 and str(victim) in errors[0]
    assert json.loads((state / NAV_FILE).read_text()) == {"seq": 2}
    assert victim.is_dir() and (victim / "keep").read_text() == "x"
    assert [p.name for p in state.iterdir() if p.name.endswith(".tmp")] == []   # no temp file left behind


def _recording_fsync(monkeypatch) -> list[str]:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_a_batch_shows_each_file_at_once_and_fsyncs_each_folder_once(tmp_path, monkeypatch):
    dirs = state_dirs(tmp_path / "state", tmp_path / "dash")
    synced = _recording_fsync(monkeypatch)
    batch = StateFileBatch(dirs)
    batch.put({NAV_FILE: {"seq": 7}})
    for d in dirs:                                  # readable before the rest of the batch is written
        assert json.loads((d / NAV_FILE).read_text()) == {"seq": 7}
    batch.put({POSITIONS_FILE: {"positions": []}, KPIS_FILE: {"k": 1}})
    assert batch.finish() == [] and batch.written == 6
    folders = [p for p in synced if os.path.isdir(p)]
    assert sorted(folders) == sorted(str(d) for d in dirs)              # each folder once, at the end
    # each document written and fsynced once, before the folders: its mirror is the same file
    assert synced[-2:] == folders and len(synced) == 3 + 2
    for name in (NAV_FILE, POSITIONS_FILE, KPIS_FILE):
        assert os.stat(dirs[0] / name).st_ino == os.stat(dirs[1] / name).st_ino
    assert sorted(p.name for d in dirs for p in d.iterdir() if p.name.endswith(".tmp")) == []


def test_a_new_batch_replaces_both_mirrors_and_leaves_an_open_old_file_as_it_was(tmp_path):
    dirs = state_dirs(tmp_path / "state", tmp_path / "dash")
    assert write_state_files(dirs, {NAV_FILE: {"seq": 1}}) == []
    with open(dirs[1] / NAV_FILE, "rb") as old:     # a reader in the middle of the old file
        assert write_state_files(dirs, {NAV_FILE: {"seq": 2}}) == []
        assert json.loads(old.read()) == {"seq": 1}
    for d in dirs:
        assert json.loads((d / NAV_FILE).read_text()) == {"seq": 2}
        assert os.stat(d / NAV_FILE).st_nlink == 2   # the two mirrors, no third name left behind


def test_folders_that_cannot_share_a_file_get_a_copy_each(tmp_path, monkeypatch):
    """Another file system (EXDEV) or one without hard links: each folder's file written and fsynced."""
    def no_link(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    synced = _recording_fsync(monkeypatch)
    dirs = state_dirs(tmp_path / "state", tmp_path / "dash")
    assert write_state_files(dirs, {NAV_FILE: {"seq": 3}, KPIS_FILE: {"k": 2}}) == []
    assert len(synced) == 4 + 2
    for d in dirs:
        assert json.loads((d / NAV_FILE).read_text()) == {"seq": 3}
        assert os.stat(d / NAV_FILE).st_nlink == 1


def test_a_first_folder_whose_write_fails_does_not_stop_the_mirror(tmp_path, monkeypatch):
    """A full disk under STATE_DIR (fsync ENOSPC): the mirror still gets the document, on its own."""
    dirs = state_dirs(tmp_path / "state", tmp_path / "dash")
    assert write_state_files(dirs, {NAV_FILE: {"seq": 1}}) == []
    real_fsync = os.fsync

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(dirs[0]) + "/"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    errors = write_state_files(dirs, {NAV_FILE: {"seq": 2}})
    assert len(errors) == 1 and errors[0].startswith(f"state file {dirs[0] / NAV_FILE}: No space left")
    assert json.loads((dirs[0] / NAV_FILE).read_text()) == {"seq": 1}
    assert json.loads((dirs[1] / NAV_FILE).read_text()) == {"seq": 2}
    assert [p.name for d in dirs for p in d.iterdir() if p.name.endswith(".tmp")] == []


def test_a_folder_fsync_that_fails_is_reported_by_folder(tmp_path, monkeypatch):
    state = tmp_path / "state"
    real_fsync = os.fsync

    def fsync(fd):
        if os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    errors = write_state_files([state], {NAV_FILE: {"seq": 1}})
    assert len(errors) == 1 and errors[0].startswith(f"state folder {state}: fsync failed (Input/output error)")
