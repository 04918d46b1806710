"""The upload service: receive uploads, check them, keep the latest version of each visit under its
就醫識別碼, enforce the format-2.0 operations (A/B insert or replace, C cancel refills, D delete,
E restore) and the dispensing chain, and answer status, result, visit and refill queries.

- :mod:`~nhihub.service.uploads`: :func:`submit_upload`, :func:`get_batch`, :func:`list_batches`,
  :func:`result_file`, :func:`purge_results`.
- :mod:`~nhihub.service.worker`: :func:`process_next`, :func:`run_worker`, :func:`drain`.
- :mod:`~nhihub.service.visits`: :class:`Viewer`, :func:`get_visit`, :func:`refill_status`.
- :mod:`~nhihub.service.tokens`: :func:`create_token`, :func:`authenticate`.
- :func:`ingest_file`: submit and process synchronously (``nhihub ingest``).
- :mod:`~nhihub.service.chain`: the stateful rules as pure functions (:func:`plan`).

See docs/service.md.
"""

from nhihub.service.chain import ChainContext, ChainState, Plan, Snapshot, plan, plan_batch
from nhihub.service.checking import CheckPool
from nhihub.service.facts import RecordFacts, RefillFacts, VisitFacts
from nhihub.service.ingest import IngestReport, ingest_file
from nhihub.service.results import FORMATS, media_type
from nhihub.service.tokens import authenticate, create_token
from nhihub.service.uploads import (
    BatchView,
    UploadRejected,
    get_batch,
    list_batches,
    purge_results,
    rejection,
    result_file,
    submit_upload,
)
from nhihub.service.visits import (
    InvalidVisitId,
    RefillStatus,
    RefillView,
    Viewer,
    VisitView,
    get_visit,
    refill_status,
)
from nhihub.service.worker import WorkerHooks, drain, new_worker_id, process_next, run_worker

__all__ = [
    "FORMATS",
    "BatchView",
    "ChainContext",
    "ChainState",
    "CheckPool",
    "IngestReport",
    "InvalidVisitId",
    "Plan",
    "RecordFacts",
    "RefillFacts",
    "RefillStatus",
    "RefillView",
    "Snapshot",
    "UploadRejected",
    "Viewer",
    "VisitFacts",
    "VisitView",
    "WorkerHooks",
    "authenticate",
    "create_token",
    "drain",
    "get_batch",
    "get_visit",
    "ingest_file",
    "list_batches",
    "media_type",
    "new_worker_id",
    "plan",
    "plan_batch",
    "process_next",
    "purge_results",
    "refill_status",
    "rejection",
    "result_file",
    "run_worker",
    "submit_upload",
]
