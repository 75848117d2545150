"""Log lines as operators and log shippers read them: UTC `Z` timestamps, JSON lines, redaction, rotation."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from datetime import UTC, datetime

from shared.logs import rotating_file
from tests.support import ROOT, eventually

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def log_in_subprocess(code: str, **env: str) -> str:
    result = subprocess.run([sys.executable, "-c", f"from shared.logs import setup_logging\n{code}"],
                            capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin", **env}, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_text_lines_carry_utc_with_z_whatever_the_local_zone():
    line = log_in_subprocess("setup_logging('nav').info('hello')", TZ="Asia/Tokyo").strip()
    stamp, level, rest = line.split(" ", 2)
    assert TS.match(stamp), line
    assert (level, rest.strip()) == ("INFO", "nav: hello")
    logged = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - logged).total_seconds()) < 3600, "local time (UTC+9) written as if UTC"


def test_json_lines_are_one_object_each_with_redaction_and_tracebacks():
    out = log_in_subprocess(
        "log = setup_logging('pricer', secrets=['k3y-s3cret'], fmt='json')\n"
        "log.warning('multi\\nline with k3y-s3cret')\n"
        "try:\n    raise ValueError('boom k3y-s3cret')\nexcept ValueError:\n    log.exception('failed')\n")
    lines = out.strip().splitlines()
    assert len(lines) == 2, out
    first, second = (json.loads(line) for line in lines)
    assert TS.match(first["ts"]) and first["level"] == "WARNING" and first["service"] == "pricer"
    assert first["msg"] == "multi\nline with ***" and first["logger"] == "pricer"
    assert second["msg"] == "failed" and "ValueError: boom ***" in second["exc"]
    assert "k3y-s3cret" not in out


def test_a_service_logs_json_lines_when_asked(env, services):
    env["LOG_FORMAT"] = "json"
    proc = services("marketsim", env)
    eventually(lambda: "listening on" in proc.log_text(), timeout=20, message="marketsim to log its start")
    docs = [json.loads(line) for line in proc.log_text().splitlines() if line.strip()]
    assert docs and all(d["service"] == "marketsim" and TS.match(d["ts"]) for d in docs)
    assert any("listening on" in d["msg"] for d in docs)


def test_log_files_rotate_by_size(tmp_path):
    path = tmp_path / "nav.log"
    handler = rotating_file(path, max_bytes=10_000, backups=3)
    for i in range(1000):
        handler.emit(logging.makeLogRecord({"msg": f"line {i:04d} " + "x" * 90}))
    handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["nav.log", "nav.log.1", "nav.log.2", "nav.log.3"]
    assert all((tmp_path / f).stat().st_size <= 10_000 for f in files)
    assert path.read_text().splitlines()[-1].startswith("line 0999 "), "the newest lines are in nav.log"
