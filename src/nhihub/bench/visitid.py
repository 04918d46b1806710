"""Visit-identifier codec speed: issues, decodes and verifies per second on one core.

Inputs are random (fixed seed): person IDs, institution codes with letters in positions 7-9,
date-times over the whole encodable range, all channels. Two situations matter:

- *cold*: every code comes from an institution not seen before, so each operation also derives
  that institution's keys and builds its AES context (the insurer's worst case);
- *warm*: the institutions' keys are cached (the usual case: NHI has ~30,000 institutions, each
  seen again and again; here a pool of 2,000). An institution's own tool has its one key.

Target (issue #2): at least 20,000 decodes per second per core; applied here to both decode
figures and to issuing with an institution's own key. Issuing by the insurer for a new
institution each time, and verifying, are reported without a target.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections.abc import Callable, Sequence

from nhihub.bench import Figure, best_of
from nhihub.visitid import Channel, Keyring, decode, issue, verify
from nhihub.visitid.layout import EPOCH, TIME_SPAN

TARGET = 20_000.0
POOL = 2_000  # institutions in the warm runs

Visit = tuple[str, dt.datetime, str, Channel]


def _institution(rng: random.Random) -> str:
    head = "".join(rng.choices(string.digits, k=6))
    middle = "".join(rng.choices(string.digits + string.ascii_uppercase, k=3))
    return head + middle + rng.choice(string.digits)


def _visits(rng: random.Random, institutions: Sequence[str]) -> list[Visit]:
    channels = list(Channel)
    return [
        (
            f"{rng.choice(string.ascii_uppercase)}{rng.choice('12')}{rng.randrange(10**8):08d}",
            EPOCH + dt.timedelta(seconds=rng.randrange(TIME_SPAN)),
            institution,
            rng.choice(channels),
        )
        for institution in institutions
    ]


def _rate(n: int, work: Callable[[], object], repeats: int) -> float:
    """Operations per second: the best of ``repeats`` runs of ``work`` (``n`` operations)."""
    return n / best_of(work, repeats)[0]


def _figure(name: str, rate: float, targeted: bool) -> Figure:
    if not targeted:
        return Figure(name, rate, "/s")
    return Figure(name, rate, "/s", target=f">= {TARGET:,.0f}/s", met=rate >= TARGET)


def _issue_all(visits: Sequence[Visit], keys: Keyring) -> list[str]:
    return [issue(p, at, inst, ch, keyring=keys) for p, at, inst, ch in visits]


def _decode_all(codes: Sequence[str], keys: Keyring) -> None:
    for code in codes:
        decode(code, keyring=keys)


def run(quick: bool) -> list[Figure]:
    n = 2_000 if quick else 30_000
    repeats = 1 if quick else 3
    rng = random.Random(20240901)
    master = Keyring.development()  # the speed does not depend on which key

    new_each = _visits(rng, [_institution(rng) for _ in range(n)])
    new_codes = _issue_all(new_each, master)
    pool = [_institution(rng) for _ in range(POOL)]
    pooled = _visits(rng, rng.choices(pool, k=n))
    pooled_codes = _issue_all(pooled, master)  # also fills master's key cache
    own = _institution(rng)
    tool = master.derive_institution(own)
    own_visits = _visits(rng, [own] * n)

    def verify_all() -> None:
        for (person, *_), code in zip(pooled, pooled_codes, strict=True):
            verify(code, person, keyring=master)

    def rate(work: Callable[[], object]) -> float:
        return _rate(n, work, repeats)

    # (name, rate, whether the 20,000/s target applies): the target is about decoding, and
    # about issuing as institutions do (own key); the rest is for information.
    rows = [
        ("issue (institution tool, own key)", rate(lambda: _issue_all(own_visits, tool)), True),
        (
            "issue (insurer, new institution each)",
            rate(lambda: _issue_all(new_each, Keyring.development())),
            False,
        ),
        (
            "decode (new institution each, cold keys)",
            rate(lambda: _decode_all(new_codes, Keyring.development())),
            True,
        ),
        (
            f"decode ({POOL:,} institutions, keys cached)",
            rate(lambda: _decode_all(pooled_codes, master)),
            True,
        ),
        (f"verify ({POOL:,} institutions, keys cached)", rate(verify_all), False),
    ]
    return [_figure(name, value, targeted) for name, value, targeted in rows]
