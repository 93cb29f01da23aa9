"""``bmv2_runner serve`` started in the background stops on SIGINT and SIGTERM, and leaves no files or namespace.

A shell starts a background job with SIGINT ignored; Python then installs no
KeyboardInterrupt handler, and the old ``serve`` ignored Ctrl-C. Each run also
left a ``simple_switch-*.log`` in the temporary folder.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from switchsim.conformance import vectors

pytestmark = [pytest.mark.p4c, pytest.mark.bmv2]


def _background_like_a_shell():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_on_a_signal_and_cleans_up(bmv2_programs, bmv2_can_run, tmp_path, signum):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "switchsim.p4gen.bmv2_runner", "serve", "--workers", "2", "--slots",
         str(vectors.SLOTS), "--thrift-port", "9391", "--program", str(bmv2_programs[False])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=_background_like_a_shell)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if not line or "stops the switch" in line:
            break
    assert "stops the switch" in lines[-1], "".join(lines)
    namespace = next(word for line in lines for word in line.split() if word.startswith("switchsim-bmv2-"))
    assert namespace in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    process.send_signal(signum)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 128 + signum, output
    assert f"{signal.Signals(signum).name}: stopped the switch and removed the namespace" in output
    assert namespace not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert list(tmp_path.iterdir()) == []  # no simple_switch-*.log, no switch folder left behind
