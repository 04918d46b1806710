"""A worker process for the crash test: processes one batch with a hook that, inside the apply
transaction (every write done, nothing committed), writes a marker file and hangs until the test
kills it with SIGKILL.

Usage: python worker_child.py DB_URL DATA_KEY_HEX LOOKUP_KEY_HEX MARKER_FILE
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from nhihub.config import Settings
from nhihub.service import WorkerHooks, process_next
from nhihub.storage import create_engine_for


def main() -> None:
    url, data_key, lookup_key, marker = sys.argv[1:5]
    settings = Settings(
        db_url=url,
        data_key=bytes.fromhex(data_key),
        lookup_key=bytes.fromhex(lookup_key),
        data_key_id=1,
        worker_lease_seconds=30,
    )

    def hang(batch_id: int) -> None:
        Path(marker).write_text(str(batch_id))
        time.sleep(300)

    process_next(create_engine_for(url), "doomed", settings, hooks=WorkerHooks(hang))


if __name__ == "__main__":
    main()
