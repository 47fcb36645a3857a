"""Child processes for the sandbox stack: start, wait for a line that says 'ready', stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path


class ProcessFailedError(RuntimeError):
    """A child process exited, or did not say it was ready in time."""


class ManagedProcess:
    """A child process whose output goes to a log file and is watched for one pattern.

    :param name: short name for messages.
    :param argv: the command.
    :param env: its whole environment.
    :param log_path: where its stdout and stderr go.
    :param ready_pattern: regex; ``start()`` returns the first match once a line matches it.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        ready_pattern: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self._pattern = re.compile(ready_pattern) if ready_pattern else None
        self._ready = threading.Event()
        self._match: re.Match[str] | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def start(self, timeout: float = 60.0) -> re.Match[str] | None:
        """Start the process; with a ready pattern, block until it matches (or fail)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, name=f"{self.name}-output", daemon=True)
        self._reader.start()
        if self._pattern is None:
            return None
        if not self._ready.wait(timeout) or self._match is None:
            self.stop()
            raise ProcessFailedError(
                f"{self.name} did not become ready in {timeout:.0f}s; see {self.log_path}"
            )
        return self._match

    def start_and_wait(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """Start the process and return the match of ``pattern`` in its output."""
        self._pattern = re.compile(pattern)
        match = self.start(timeout)
        assert match is not None
        return match

    def _pump(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            for line in self._proc.stdout:
                log.write(line)
                log.flush()
                if self._pattern is not None and not self._ready.is_set():
                    match = self._pattern.search(line)
                    if match:
                        self._match = match
                        self._ready.set()
        # Unblock a waiter when the process ends without ever matching.
        self._ready.set()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit and its output to be written; return its exit code."""
        assert self._proc is not None
        code = self._proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout=10)
        return code

    def kill(self) -> None:
        """SIGKILL the process group at once (crash tests)."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self.wait(timeout=30)

    def freeze(self) -> None:
        """SIGSTOP the process group: it stays alive but does nothing (a host that stalls)."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT the process group after :meth:`freeze`."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGCONT)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (a frozen process is thawed to hear it)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGTERM)
            os.killpg(self._proc.pid, signal.SIGCONT)
            self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""
