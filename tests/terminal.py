"""Running `optout` as a person at a terminal would: on a pseudo-terminal, answering its prompts."""

from __future__ import annotations

import os
import pty
import select
import sys
import time


def run_in_terminal(optout_env, args, answers, *, timeout=90, answer_for=None, expect_exit=0) -> str:
    """Run `optout ARGS` on a pseudo-terminal; each time it waits at a prompt, type the next answer
    (or `answer_for(output_so_far)`). Returns everything the terminal showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes `optout` on the terminal
        os.chdir(optout_env.home)
        os.execve(sys.executable, [sys.executable, "-m", "optout", *args], optout_env.env)
    shown, pending, deadline = b"", list(answers), time.monotonic() + timeout
    answered_at, quiet_since = 0, time.monotonic()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child exited and closed the terminal
                break
            shown, quiet_since = shown + chunk, time.monotonic()
            continue
        # A prompt that has sat quietly for a moment: getpass has switched echo off (and flushed input)
        # by now, so what is typed is read, not discarded.
        at_prompt = shown.rstrip().endswith((b":", b"]", b")")) and len(shown.rstrip()) > answered_at
        if at_prompt and time.monotonic() - quiet_since > 0.5 and (pending or answer_for):
            answer = pending.pop(0) if pending else answer_for(shown.decode(errors="replace"))
            if answer is not None:
                os.write(fd, answer.encode() + b"\n")
                answered_at = len(shown.rstrip())
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    text = shown.decode(errors="replace")
    optout_env.outputs.append(text)
    assert os.waitstatus_to_exitcode(status) == expect_exit, text
    return text
