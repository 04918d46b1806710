"""API tokens: shown once, stored as a hash, authenticated to a viewer, revocable."""

from __future__ import annotations

import pytest
from service_kit import Hub

from nhihub.protect import hash_token
from nhihub.service import UploadRejected, Viewer, authenticate, create_token
from nhihub.storage import get_token_by_hash, revoke_token, unit_of_work


def test_tokens(hub: Hub) -> None:
    inst = hub.institution("3501200000")
    with unit_of_work(hub.engine) as conn:
        clinic = create_token(conn, institution=inst, role="institution", label="HIS")
        staff = create_token(conn, institution=None, role="staff")
        stored = get_token_by_hash(conn, hash_token(clinic))
        assert stored is not None and stored.label == "HIS"
        viewer = authenticate(conn, clinic)
        assert viewer == Viewer.of_institution(inst, stored.id)
        staff_viewer = authenticate(conn, staff)
        assert staff_viewer is not None and staff_viewer.role == "staff"
        assert authenticate(conn, clinic + "x") is None and authenticate(conn, " ") is None
        revoke_token(conn, stored.id)
        assert authenticate(conn, clinic) is None
    assert clinic != staff and clinic.startswith("nhh_")


def test_token_refusals(hub: Hub) -> None:
    hub.institution("3501200000")
    with unit_of_work(hub.engine) as conn:
        with pytest.raises(UploadRejected) as caught:
            create_token(conn, institution="1234567890", role="institution")
        assert caught.value.code == "9005"
        with pytest.raises(ValueError):
            create_token(conn, institution="3501200000", role="staff")
        with pytest.raises(ValueError):
            create_token(conn, institution=None, role="institution")
