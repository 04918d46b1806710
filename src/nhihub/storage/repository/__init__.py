"""Repository functions: plain SQLAlchemy Core on a caller-supplied ``Connection``.

No business rules here (those belong to the service layer) and no commits: the caller owns the
transaction, so all writes of one batch can be applied atomically.
"""

from nhihub.storage.repository.audit import append_audit, list_audit
from nhihub.storage.repository.batches import (
    RawMissing,
    claim_next_batch,
    create_batch,
    finish_batch,
    get_batch,
    list_batches,
    load_raw,
    mark_batch_done,
    mark_batch_failed,
    release_batch,
    renew_lease,
)
from nhihub.storage.repository.institutions import (
    create_token,
    get_institution,
    get_token_by_hash,
    insert_institution,
    list_institutions,
    revoke_token,
    update_institution,
)
from nhihub.storage.repository.refills import (
    ensure_refills,
    get_refill,
    get_refills,
    refills_dispensed_by,
    set_refill,
)
from nhihub.storage.repository.reports import (
    get_precheck_records,
    get_v1_records,
    insert_precheck_records,
    insert_v1_records,
)
from nhihub.storage.repository.results import (
    get_record_outcomes,
    get_result,
    purge_results_older_than,
    save_record_outcomes,
    save_result,
)
from nhihub.storage.repository.visits import (
    ARCHIVED,
    INSERTED,
    REPLACED,
    find_visits_by_person,
    get_order_lines,
    get_visit,
    get_visit_versions,
    get_visits,
    mark_visit_deleted,
    replace_order_lines,
    upsert_visit,
    upsert_visits,
    visits_referencing,
)

__all__ = [
    "ARCHIVED",
    "INSERTED",
    "REPLACED",
    "RawMissing",
    "append_audit",
    "claim_next_batch",
    "create_batch",
    "create_token",
    "ensure_refills",
    "find_visits_by_person",
    "finish_batch",
    "get_batch",
    "get_institution",
    "get_order_lines",
    "get_precheck_records",
    "get_record_outcomes",
    "get_refill",
    "get_refills",
    "get_result",
    "get_token_by_hash",
    "get_v1_records",
    "get_visit",
    "get_visit_versions",
    "get_visits",
    "insert_institution",
    "insert_precheck_records",
    "insert_v1_records",
    "list_audit",
    "list_batches",
    "list_institutions",
    "load_raw",
    "mark_batch_done",
    "mark_batch_failed",
    "mark_visit_deleted",
    "purge_results_older_than",
    "refills_dispensed_by",
    "release_batch",
    "renew_lease",
    "replace_order_lines",
    "revoke_token",
    "save_record_outcomes",
    "save_result",
    "set_refill",
    "update_institution",
    "upsert_visit",
    "upsert_visits",
    "visits_referencing",
]
