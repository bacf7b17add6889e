"""Temporary body files and atomic commits (fetchall.output.writer), on real temp dirs."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest

from fetchall.errors import OutputError, UsageError
from fetchall.output.bodyfile import FLUSH_AT, BodyFile
from fetchall.output.writer import TEMP_DIR, OutputDir

H = r"[0-9a-f]{8}"


def _body(out: OutputDir, data: bytes = b"hello") -> BodyFile:
    body = out.new_temp()
    body.write(data)
    return body


def _temps(root: Path) -> list[str]:
    tmp = root / TEMP_DIR
    return sorted(os.listdir(tmp)) if tmp.is_dir() else []


def _all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


def test_new_temp_name_and_size(tmp_path: Path) -> None:
    out = OutputDir(tmp_path / "out")
    body = out.new_temp()
    body.write(b"abc")
    body.write(b"de")
    assert body.size == 5
    assert body.path.parent == (tmp_path / "out" / TEMP_DIR).resolve()
    assert re.fullmatch(rf"{os.getpid()}-\d+-[0-9a-f]{{8}}\.part", body.path.name)
    other = out.new_temp()
    assert other.path != body.path
    body.discard()
    other.discard()


def test_commit_into_nested_dirs(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    used = out.commit(_body(out, b"data"), "h/a/b/c.html", "http://h/a/b/c.html")
    assert used == "h/a/b/c.html"
    assert (tmp_path / used).read_bytes() == b"data"
    assert _temps(tmp_path) == []


def test_commit_same_key_overwrites_and_previous_run_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "x").write_bytes(b"old run")
    out = OutputDir(tmp_path)
    assert out.commit(_body(out, b"one"), "h/x", "http://h/x") == "h/x"
    assert out.commit(_body(out, b"two"), "h/x", "http://h/x") == "h/x"
    assert (tmp_path / "h" / "x").read_bytes() == b"two"


def test_claimed_path_collision_gets_a_fallback(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    first = out.commit(_body(out, b"dir"), "h/a/index.html", "http://h/a/")
    second = out.commit(_body(out, b"file"), "h/a/index.html", "http://h/a/index.html")
    assert first == "h/a/index.html"
    assert re.fullmatch(rf"h/a/index~{H}\.html", second)
    assert (tmp_path / first).read_bytes() == b"dir"
    assert (tmp_path / second).read_bytes() == b"file"
    # Deterministic for the same key, and the same key finds its own fallback again.
    again = out.commit(_body(out, b"file2"), "h/a/index.html", "http://h/a/index.html")
    assert again == second


def test_file_where_a_directory_is_needed(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    assert out.commit(_body(out, b"A"), "h/a", "http://h/a") == "h/a"
    used = out.commit(_body(out, b"AB"), "h/a/b.txt", "http://h/a/b.txt")
    assert re.fullmatch(rf"h/a\.d/b~{H}\.txt", used)
    assert (tmp_path / "h" / "a").read_bytes() == b"A"
    assert (tmp_path / used).read_bytes() == b"AB"


def test_directory_where_the_file_goes(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    assert out.commit(_body(out, b"AB"), "h/a/b", "http://h/a/b") == "h/a/b"
    used = out.commit(_body(out, b"A"), "h/a", "http://h/a")
    assert re.fullmatch(rf"h/a~{H}", used)
    assert (tmp_path / "h" / "a" / "b").read_bytes() == b"AB"
    assert (tmp_path / used).read_bytes() == b"A"


def test_symlinked_directory_pointing_outside_is_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "h").symlink_to(outside, target_is_directory=True)
    out = OutputDir(root)
    used = out.commit(_body(out, b"x"), "h/file.txt", "http://h/file.txt")
    assert re.fullmatch(rf"h\.d/file~{H}\.txt", used)
    assert list(outside.iterdir()) == []
    assert (root / used).read_bytes() == b"x"


def test_symlinked_final_file_is_not_followed(tmp_path: Path) -> None:
    root, victim = tmp_path / "root", tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (root / "h").mkdir(parents=True)
    (root / "h" / "f").symlink_to(victim)
    out = OutputDir(root)
    used = out.commit(_body(out, b"x"), "h/f", "http://h/f")
    assert re.fullmatch(rf"h/f~{H}", used)
    assert victim.read_bytes() == b"precious"


def test_known_directories_keep_every_check(tmp_path: Path) -> None:
    """Commits into directories already verified or created in this run (the directory cache)
    still detect a symlink or a directory at the final name, claims, and files in the way."""
    root, victim = tmp_path / "root", tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (root / "old").mkdir(parents=True)
    out = OutputDir(root)
    assert out.commit(_body(out, b"1"), "old/a", "http://h/old/a") == "old/a"  # verified
    assert out.commit(_body(out, b"2"), "new/a", "http://h/new/a") == "new/a"  # created
    (root / "old" / "link").symlink_to(victim)  # e.g. left by a previous run
    (root / "old" / "dir").mkdir()
    assert re.fullmatch(rf"old/link~{H}", out.commit(_body(out, b"x"), "old/link", "http://l"))
    assert re.fullmatch(rf"old/dir~{H}", out.commit(_body(out, b"y"), "old/dir", "http://d"))
    assert victim.read_bytes() == b"precious"
    # Created in this run: claims and this run's own directories are still conflicts.
    assert out.commit(_body(out, b"3"), "new/d/f", "http://h/new/d/f") == "new/d/f"
    assert re.fullmatch(rf"new/d~{H}", out.commit(_body(out, b"4"), "new/d", "http://h/new/d"))
    assert re.fullmatch(rf"new/a~{H}", out.commit(_body(out, b"5"), "new/a", "http://other"))
    assert out.commit(_body(out, b"6"), "new/a", "http://h/new/a") == "new/a"  # same key
    used = out.commit(_body(out, b"7"), "new/a/b", "http://h/new/a/b")  # a file in the way
    assert re.fullmatch(rf"new/a\.d/b~{H}", used)
    assert (root / "new" / "a").read_bytes() == b"6"
    assert (root / used).read_bytes() == b"7"
    assert _temps(root) == []


def test_symlinked_temp_dir_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / TEMP_DIR).symlink_to(outside, target_is_directory=True)
    out = OutputDir(root)
    with pytest.raises(OutputError, match="cannot create a temporary file"):
        out.new_temp()
    assert list(outside.iterdir()) == []


def test_root_itself_may_be_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    out = OutputDir(tmp_path / "link")
    assert out.commit(_body(out), "h/x", "http://h/x") == "h/x"
    assert (real / "h" / "x").read_bytes() == b"hello"


def test_reserved_and_temp_dir_names(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    out.reserve("report.jsonl")
    used = out.commit(_body(out), "report.jsonl", "http://h/")
    assert re.fullmatch(rf"report~{H}\.jsonl", used)
    used = out.commit(_body(out), f"{TEMP_DIR}/x", "http://h/x")
    assert used == f"{TEMP_DIR}.d/x"


def test_unsafe_relpath_is_an_output_error_and_leaves_no_temp(tmp_path: Path) -> None:
    out = OutputDir(tmp_path / "out")
    for bad in ("../escape", "/abs", ""):
        body = _body(out)
        with pytest.raises(OutputError, match="cannot save to"):
            out.commit(body, bad, "k")
        assert not body.path.exists()
    assert _temps(tmp_path / "out") == []
    assert not (tmp_path / "escape").exists()


def test_os_error_during_commit_discards_temp(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    long_name = "x" * 300  # over NAME_MAX: the rename fails
    body = _body(out)
    with pytest.raises(OutputError, match=r"cannot save to h/x+: "):
        out.commit(body, f"h/{long_name}", "k")
    assert _temps(tmp_path) == []


def test_discard_is_idempotent_and_leaves_nothing(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    body = _body(out)
    body.discard()
    body.discard()
    assert not body.path.exists()
    assert _temps(tmp_path) == []


def test_remove_temps(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    bodies = [_body(out) for _ in range(3)]
    foreign = tmp_path / TEMP_DIR / "1-1-deadbeef.part"  # another process's temp: kept
    foreign.write_bytes(b"")
    out.remove_temps()
    assert all(not b.path.exists() for b in bodies)
    assert _temps(tmp_path) == [foreign.name]
    foreign.unlink()
    out.remove_temps()
    assert not (tmp_path / TEMP_DIR).exists()
    # New temps work again after the directory was removed.
    body = _body(out)
    assert body.path.exists()
    body.discard()


def test_remove_temps_can_keep_a_shared_dir_and_new_temps_remake_it(tmp_path: Path) -> None:
    """A run that shares DIR with others (a cluster's shard) leaves the empty temp dir in
    place; and a temp dir another process removed is made again by the next `new_temp`."""
    out = OutputDir(tmp_path)
    _body(out).discard()
    out.remove_temps(keep_dir=True)
    assert (tmp_path / TEMP_DIR).is_dir() and _temps(tmp_path) == []
    other = OutputDir(tmp_path)  # another run into DIR, ending: it removes the empty dir
    other.remove_temps()
    assert not (tmp_path / TEMP_DIR).exists()
    body = _body(out)  # this run had made the dir already: it makes it again
    assert body.path.exists()
    body.discard()


def test_picklable_for_child_processes(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    out.commit(_body(out), "h/x", "http://h/x")
    clone = pickle.loads(pickle.dumps(out))
    assert clone.root == out.root
    body = clone.new_temp()
    body.write(b"from clone")
    assert out.commit(body, "h/y", "http://h/y") == "h/y"
    assert (tmp_path / "h" / "y").read_bytes() == b"from clone"


def test_closed_body_pickles_as_path_and_size(tmp_path: Path) -> None:
    """A worker process hands its finished body to the parent, which commits or discards it."""
    out = OutputDir(tmp_path)
    open_body = _body(out, b"abc")
    with pytest.raises(TypeError):
        pickle.dumps(open_body)
    open_body.close()
    clone = pickle.loads(pickle.dumps(open_body))
    assert (clone.path, clone.size) == (open_body.path, 3)
    assert out.commit(clone, "h/z", "http://h/z") == "h/z"
    assert (tmp_path / "h" / "z").read_bytes() == b"abc"
    other = _body(out)
    other.close()
    pickle.loads(pickle.dumps(other)).discard()
    assert _temps(tmp_path) == []


def test_remove_temps_of_other_pids(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    mine = _body(out)
    for name in ("7-1-deadbeef.part", "8-1-deadbeef.part", "70-1-deadbeef.part"):
        (tmp_path / TEMP_DIR / name).write_bytes(b"")
    out.remove_temps([7, 8])
    assert _temps(tmp_path) == sorted(["70-1-deadbeef.part", mine.path.name])
    out.remove_temps([])
    assert len(_temps(tmp_path)) == 2
    mine.discard()


def test_root_errors(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(UsageError, match="cannot use output directory"):
        OutputDir(afile)
    with pytest.raises(UsageError, match="cannot use output directory"):
        OutputDir(afile / "sub")


def test_creates_root_with_parents(tmp_path: Path) -> None:
    out = OutputDir(tmp_path / "a" / "b")
    assert out.root.is_dir()
    assert _all_files(tmp_path) == set()  # the case-sensitivity probe is gone


def test_many_distinct_keys_never_share_a_file(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    used = {out.commit(_body(out, str(i).encode()), "h/same", f"http://h/{i}") for i in range(20)}
    assert len(used) == 20
    assert {(tmp_path / u).read_bytes() for u in used} == {str(i).encode() for i in range(20)}


def test_disk_errors_are_output_errors() -> None:
    """ENOSPC while streaming a body is an `OutputError`, not a network error."""
    body = BodyFile(Path("/dev/full"), os.open("/dev/full", os.O_WRONLY))
    with pytest.raises(OutputError, match="disk"):
        body.write(b"x" * FLUSH_AT)  # a big piece is written at once
    body.close()  # not discard(): that would unlink /dev/full
    gathered = BodyFile(Path("/dev/full"), os.open("/dev/full", os.O_WRONLY))
    gathered.write(b"x")  # gathered, not written yet
    with pytest.raises(OutputError, match="disk"):
        gathered.close()
    assert gathered.closed


def test_small_pieces_are_gathered_and_big_ones_written_whole(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    body = out.new_temp()
    pieces = [b"a" * 100, b"b" * (FLUSH_AT - 50), b"c" * 10, b"d" * (3 * FLUSH_AT), b"e"]
    for piece in pieces:
        body.write(piece)
    assert body.size == sum(map(len, pieces))
    assert body.path.stat().st_size == 100 + FLUSH_AT - 50 + 10 + 3 * FLUSH_AT  # "e" pending
    used = out.commit(body, "f.bin", "http://h/f.bin")
    assert (tmp_path / used).read_bytes() == b"".join(pieces)
    assert body.closed


def test_temp_names_are_unique_across_dirs_and_a_forked_child_gets_its_own_tag(
    tmp_path: Path,
) -> None:
    from fetchall.output.writer import _process_tag

    one, two = OutputDir(tmp_path), OutputDir(tmp_path)  # two OutputDirs on one root
    names = {one.new_temp().path.name, two.new_temp().path.name, one.new_temp().path.name}
    assert len(names) == 3
    parent_tag = _process_tag()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its tag and leave at once
        child_pid, token = _process_tag()
        os.write(write, f"{child_pid} {token} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_pid, token, real_pid = os.read(read, 200).decode().split()
    os.close(read)
    assert int(child_pid) == int(real_pid) == pid != parent_tag[0]
    assert token != parent_tag[1]
