"""A private D-Bus session and gnome-keyring for each pytest-xdist worker.

scripts/with-keyring starts one keyring for the whole run. Two workers writing to that one daemon at the
same moment make it fail now and then ("Failed to create the collection: Prompt dismissed"), which tied
every test module to one worker (--dist loadfile). With a keyring of its own, a worker can take any test
(--dist worksteal) and still talk to a real Secret Service, never a dict.

gnome-keyring aborts now and then when a client is killed in the middle of a call ("assertion 'client'
failed", then SIGABRT), at once or on a later call; the kill tests do exactly that on purpose. So the
daemon can be started again on its files with its password: the kill tests restart it after each kill
(`restart_keyring`), and every test starts with it up (`ensure_keyring_running`). The bus has no service
activation: a dead keyring is an immediate "ServiceUnknown", not the 120 s activation timeout of
gnome-keyring's --start."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jeepney import DBusAddress, DBusErrorResponse, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

from waiting import wait_until

SECRET_SERVICE = "org.freedesktop.secrets"
SERVICE_OBJECT = DBusAddress("/org/freedesktop/secrets", bus_name=SECRET_SERVICE,
                             interface="org.freedesktop.Secret.Service")

# The session bus of dbus-daemon's own session.conf, minus <standard_session_servicedirs/>: nothing is
# started on demand.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={folder}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class WorkerKeyring:
    """A bus and an unlocked keyring on it, in a private folder (the keyring's files and its socket)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="optout-worker-keyring-"))
        config = self.folder / "bus.conf"
        config.write_text(BUS_CONFIG.format(folder=self.folder))
        started = subprocess.run(["dbus-daemon", f"--config-file={config}", "--fork", "--print-address=1",
                                  "--print-pid=1"], capture_output=True, text=True, check=True)
        self.address, pid = started.stdout.split()[:2]
        self.bus_pid = int(pid)
        self._unlock = base64.b64encode(os.urandom(18))  # the keyring's own password, for this run only
        self._start_daemon()

    def _start_daemon(self) -> None:
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.address, "XDG_DATA_HOME": str(self.folder),
               "XDG_RUNTIME_DIR": str(self.folder)}
        # cwd: a core dump of an abort (it holds the test secrets) would land in the private folder
        subprocess.run(["gnome-keyring-daemon", "--unlock", "--components=secrets"], input=self._unlock, env=env,
                       cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        # the daemon's forked child takes the name a moment after its parent exits
        wait_until(self.running, "the worker's gnome-keyring on its bus", timeout=10, every=0.02)

    def running(self) -> bool:
        """The keyring answers a Secret Service call. A call, not only its name on the bus: a daemon that
        is aborting still holds its name."""
        with open_dbus_connection(bus=self.address) as bus:
            if not _name_owned(bus):
                return False
            try:
                bus.send_and_get_reply(new_method_call(SERVICE_OBJECT, "ReadAlias", "s", ("default",)), timeout=30)
            except (DBusErrorResponse, ConnectionError, TimeoutError):
                return False
            return True

    def _owned(self) -> bool:
        with open_dbus_connection(bus=self.address) as bus:
            return _name_owned(bus)

    def daemon_pid(self) -> int:
        with open_dbus_connection(bus=self.address) as bus:
            return bus.send_and_get_reply(message_bus.GetConnectionUnixProcessID(SECRET_SERVICE)).body[0]

    def ensure_running(self) -> bool:
        """Start the keyring again (same files, same password: every entry is still there) if it died.
        True if it had to."""
        if self.running():
            return False
        warnings.warn("this worker's gnome-keyring had died (it aborts when a client is killed mid-call); "
                      "restarted on its files", RuntimeWarning, stacklevel=3)
        self._start_afresh("the dead gnome-keyring")
        return True

    def restart(self) -> None:
        """A new daemon on the same files. After a client was killed mid-call, gnome-keyring may keep its
        half-done state and abort on a later, unrelated call: the test that killed starts it afresh."""
        if self._owned():
            os.kill(self.daemon_pid(), signal.SIGTERM)
        self._start_afresh("gnome-keyring, after SIGTERM,")

    def _start_afresh(self, whose: str) -> None:
        """A new daemon, once the old one has let go of its name on the bus (the new one would not get it)."""
        wait_until(lambda: not self._owned(), f"{whose} to give up its name on the bus", timeout=10, every=0.02)
        self._start_daemon()

    def close(self) -> None:
        """The bus goes, and the keyring (which exits with its bus) with it."""
        os.kill(self.bus_pid, signal.SIGTERM)
        shutil.rmtree(self.folder, ignore_errors=True)


def _name_owned(bus) -> bool:
    return bus.send_and_get_reply(message_bus.NameHasOwner(SECRET_SERVICE)).body[0]


_current: WorkerKeyring | None = None


@contextmanager
def private_keyring() -> Iterator[WorkerKeyring]:
    """Point this process (and every command it starts) at a fresh, unlocked keyring on its own bus."""
    global _current
    keyring = WorkerKeyring()
    before = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = keyring.address
    _current = keyring
    try:
        yield keyring
    finally:
        _current = None
        if before is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = before
        keyring.close()


def restart_keyring() -> None:
    """After a test killed a client of this worker's keyring (see WorkerKeyring.restart)."""
    if _current:
        _current.restart()


def ensure_keyring_running() -> bool:
    """After a test killed a client of the keyring: this worker's keyring is up again. True if it had to
    be restarted. Outside a worker (scripts/with-keyring's one daemon) there is nothing to restart."""
    return _current.ensure_running() if _current else False
