"""``python -m recordings serve``: the replica as its own process, for the demo and manual poking.

The first stdout line is ``REPLICA_URL=...`` (flushed) so a parent process can read the port it got.
``python -m recordings screenshots [OUTDIR]`` redraws docs/replica/*.png.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from .server import LOGIN_FLOWS, make_app, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recordings", description="Offline replica of x.com.")
    sub = parser.add_subparsers(dest="command", required=True)
    srv = sub.add_parser("serve", help="serve the replica until SIGINT/SIGTERM")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=0, help="0 picks a free port")
    srv.add_argument("--accounts", default=None, help="accounts TOML (default: the bundled fixtures)")
    srv.add_argument("--latency-ms", type=int, default=0, help="delay added to every response")
    srv.add_argument("--login-flow", choices=LOGIN_FLOWS, default="account")
    srv.add_argument("--no-automation-check", action="store_true",
                     help="let browsers that announce automation log in (X refuses them)")
    shots = sub.add_parser("screenshots", help="draw the main screens as PNGs (default: docs/replica)")
    shots.add_argument("outdir", nargs="?", default=str(Path(__file__).resolve().parents[1] / "docs" / "replica"))
    args = parser.parse_args(argv)

    if args.command == "screenshots":
        from .screenshots import take  # needs Playwright, which serving does not

        for path in take(Path(args.outdir)):
            print(path)
        return 0

    app = make_app(args.accounts, args.latency_ms, args.login_flow, automation_check=not args.no_automation_check)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready(port: int) -> None:
            print(f"REPLICA_URL=http://{args.host}:{port}", flush=True)

        await serve(app, args.host, args.port, stop, ready)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
