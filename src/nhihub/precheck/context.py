"""Build the :class:`CheckContext` of a pre-check from the environment.

The visit-identifier decode checks (D003–D005, D069–D072, D075/D076) run only when the operator
configured an issuing key (``NHIHUB_MASTER_KEY``): real files carry identifiers issued by NHI, which
only NHI can decode, so without a key of ours those checks are skipped (and listed as skipped).
"""

from __future__ import annotations

import datetime as dt
import os

from nhihub.checks import CheckContext
from nhihub.visitid import ENV_VAR, load_keyring


def build_context(as_of: dt.datetime) -> CheckContext:
    codec = load_keyring() if os.environ.get(ENV_VAR) else None
    return CheckContext(as_of=as_of, codec=codec)
