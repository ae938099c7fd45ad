"""One run's evidence commit, as `runner.run_account` and `run_handles` do it after the browser part, in a
process of its own so tests/test_crash_kills.py can kill it (through strace) at any system call:
images, receipt.sig, receipt.json, chain.json (EvidenceRun.write_receipt), then the history row.
Settings come from the OPTOUT_* environment, like the real command. Usage: python commit_driver.py HANDLE"""

from __future__ import annotations

import sys

from optout.config import load_settings
from optout.credentials import CredentialStore
from optout.evidence import EvidenceRun, Receipt, sha256_file, write_private
from optout.models import AccountOutcome, AccountResult, Mode, utcnow
from optout.store import Store

PNG = b"\x89PNG\r\n\x1a\n" + b"screenshot body " * 64


def main(handle: str) -> None:
    settings = load_settings()
    with Store.open(settings) as history:
        run_id = history.start_run("run", settings.base_url)
        evidence = EvidenceRun(settings.evidence_root, handle, credentials=CredentialStore(settings))
        for name in ("before-business-partners", "after-business-partners"):
            write_private(evidence.dir / f"{name}.png", PNG + name.encode())
        receipt = evidence.write_receipt(Receipt(
            tool_version="test", handle=handle, base_url=settings.base_url, mode=Mode.APPLY,
            outcome=AccountOutcome.OK, started_at=evidence.started_at))
        history.record_result(run_id, AccountResult(
            handle=handle, mode=Mode.APPLY, outcome=AccountOutcome.OK, evidence_dir=str(evidence.dir),
            receipt=str(receipt), receipt_sha256=sha256_file(receipt), started_at=evidence.started_at,
            finished_at=utcnow()))
        history.finish_run(run_id, 0)


if __name__ == "__main__":
    main(sys.argv[1])
