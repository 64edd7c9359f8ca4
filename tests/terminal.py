"""Drive a command through a real pseudo-terminal, as a user at a keyboard would.

Copier asks its questions only when stdin is a terminal, so the interactive paths (a default that
fails its own validator, a question without a default) can only be tested through a pty.
"""

from __future__ import annotations

import os
import pty
import re
import select
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PROMPT = "\N{MICROPHONE}"  # copier marks each question with it


@dataclass(frozen=True)
class Session:
    """What a terminal session printed and how it ended."""

    exit_code: int
    output: str

    def prompts(self) -> list[str]:
        """The first line of every question copier asked, in order."""
        return [line.split(PROMPT, 1)[1].strip()
                for line in self.output.splitlines() if PROMPT in line]


def _plain(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r", "", text)


def run_in_terminal(argv: Sequence[str], answer: Callable[[str], str], *,
                    env: dict[str, str] | None = None, timeout: float = 120.0) -> Session:
    """Run ``argv`` on a pty; ``answer(question)`` gives the keys to type for each new question.

    A question counts as asked when a new prompt marker appears and the output then stays quiet
    for a moment (copier has drawn it and waits for keys).
    """
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, with the pty as its terminal
        os.execvpe(argv[0], list(argv), {**os.environ, **(env or {}), "TERM": "xterm"})
    raw = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.4)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                raw += chunk
                continue
            asked = _plain(raw).count(PROMPT)
            if asked > answered:
                question = _plain(raw).rsplit(PROMPT, 1)[1].strip().splitlines()[0]
                os.write(fd, answer(question).encode())
                answered = asked
    finally:
        if time.monotonic() >= deadline:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return Session(os.waitstatus_to_exitcode(status), _plain(raw))
