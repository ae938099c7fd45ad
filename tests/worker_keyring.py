"""A private D-Bus session and gnome-keyring for each pytest-xdist worker.

scripts/with-keyring starts one keyring for the whole run. Two workers writing to that one daemon at the
same moment make it fail now and then ("Failed to create the collection: Prompt dismissed"), which tied
every test module to one worker (--dist loadfile). With a keyring of its own, a worker can take any test
(--dist worksteal) and still talk to a real Secret Service, never a dict."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def private_keyring() -> Iterator[None]:
    """Point this process (and every command it starts) at a fresh, unlocked keyring on its own bus;
    the bus and the keyring (which exits with its bus) are gone afterwards."""
    folder = tempfile.mkdtemp(prefix="optout-worker-keyring-")
    started = subprocess.run(["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
                             capture_output=True, text=True, check=True)
    address, pid = started.stdout.split()[:2]
    keyring_env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address, "XDG_DATA_HOME": folder,
                   "XDG_RUNTIME_DIR": folder}
    unlock = base64.b64encode(os.urandom(18))  # the keyring's own password: used once, never stored
    subprocess.run(["gnome-keyring-daemon", "--unlock", "--components=secrets"], input=unlock, env=keyring_env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    before = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = before
        os.kill(int(pid), signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)
