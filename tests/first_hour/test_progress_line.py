"""Issue 20, item 11: the hand-kept status line is cut to the terminal's width (a wrapped line cannot be
rewritten in place) and prints nothing when disabled."""

from switchsim.progress import StatusLine


def test_a_line_longer_than_the_terminal_is_cut(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    line = StatusLine(enabled=True)
    line.update("x" * 200, force=True)
    written = capsys.readouterr().err
    assert written.startswith("\r") and len(written) - 1 <= 39 and written.rstrip().endswith("…")
    line.close()
    assert capsys.readouterr().err == "\r" + " " * line.width + "\r"


def test_a_short_line_is_shown_whole_and_nothing_when_disabled(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    StatusLine(enabled=True).update("sweep: 3/10 runs", force=True)
    assert "sweep: 3/10 runs  [" in capsys.readouterr().err
    StatusLine(enabled=False).update("anything", force=True)
    assert capsys.readouterr().err == ""
