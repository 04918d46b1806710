"""FF1 format-preserving encryption (NIST SP 800-38G, revision 1) with AES.

FF1 is a 10-round Feistel network over numeral strings of any radix 2..2^16. Its round function
is a CBC-MAC (``PRF``) under AES followed, when more than 16 bytes are needed, by extra AES
blocks. This implementation keeps the two halves as integers throughout: a numeral string of
length ``n`` in radix ``r`` is the integer it denotes (most significant numeral first), so the
rounds are big-integer additions modulo ``r**m`` and one or two AES calls.

Speed matters (the visit-identifier decoder runs two FF1 decryptions per code), so per key the
AES encryptor is built once, and per (length, tweak) everything that does not depend on the data
is precomputed: the CBC-MAC state after ``P`` and the constant part of ``Q`` (see :class:`_Plan`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ROUNDS = 10
MIN_DOMAIN = 1_000_000  # SP 800-38G rev. 1: radix ** minlen >= 1,000,000
MAX_RADIX = 1 << 16
MAX_LENGTH = (1 << 32) - 1
_BLOCK = 16
_ECB = modes.ECB()  # stateless; shared by every key


_NumeralOp = Callable[[Sequence[int], bytes], list[int]]


class FF1Error(ValueError):
    """A radix, length, key, tweak or numeral outside what FF1 allows."""


@dataclass(slots=True)  # not frozen: built once per key and length, frozen init is slower
class _Plan:
    """What FF1 needs for one input length ``n`` and one tweak, computed once.

    ``Q = T || [0]^pad || [i]^1 || [NUM(B)]^b``. When the round number and ``NUM(B)`` fit in the
    last block (``1 + b <= 16``, true for every length this project uses), the CBC-MAC over
    ``P || Q`` is: a constant chaining value (``P`` and all full blocks of ``T || pad``) XOR the
    last block, encrypted once. ``round_xor[i]`` is that constant, already XORed with the
    tweak bytes sharing the last block and the round number ``i``.
    """

    u: int
    v: int
    b: int
    d: int
    mod_u: int
    mod_v: int
    size: int  # radix ** n
    # fast path (single variable block); empty when the general path is needed
    round_xor: tuple[int, ...]
    # general path
    p_state: bytes
    tweak_prefix: bytes


class FF1:
    """FF1 under one AES key (16, 24 or 32 bytes) for one radix.

    >>> f = FF1(bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C"), 10)
    >>> f.encrypt_str("0123456789", "0123456789")
    '2433477484'
    """

    __slots__ = ("_encrypt_block", "_plans", "radix")

    def __init__(self, key: bytes, radix: int) -> None:
        if len(key) not in (16, 24, 32):
            raise FF1Error("AES key must be 16, 24 or 32 bytes")
        if not 2 <= radix <= MAX_RADIX:
            raise FF1Error(f"radix must be in 2..{MAX_RADIX}")
        self.radix = radix
        # ECB on one block at a time is the AES block function CIPH_K of the standard.
        self._encrypt_block = Cipher(algorithms.AES(key), _ECB).encryptor().update
        self._plans: dict[tuple[int, bytes], _Plan] = {}

    # -- integer interface (fast) --------------------------------------------------------------

    def encrypt_int(self, x: int, n: int, tweak: bytes = b"") -> int:
        """Encrypt the numeral string of length ``n`` denoted by ``x`` (``0 <= x < radix**n``)."""
        plan = self._plan(n, tweak)
        a, b = divmod(_check(x, plan), plan.mod_v)
        if plan.round_xor:
            aes, rx, d8 = self._encrypt_block, plan.round_xor, (_BLOCK - plan.d) * 8
            mu, mv = plan.mod_u, plan.mod_v
            for i in range(0, ROUNDS, 2):
                y = int.from_bytes(aes((rx[i] ^ b).to_bytes(_BLOCK, "big")), "big") >> d8
                a, b = b, (a + y) % mu
                y = int.from_bytes(aes((rx[i + 1] ^ b).to_bytes(_BLOCK, "big")), "big") >> d8
                a, b = b, (a + y) % mv
        else:
            for i in range(ROUNDS):
                y = self._round_slow(plan, i, b)
                a, b = b, (a + y) % (plan.mod_u if i % 2 == 0 else plan.mod_v)
        return a * plan.mod_v + b

    def decrypt_int(self, y: int, n: int, tweak: bytes = b"") -> int:
        """Inverse of :meth:`encrypt_int`."""
        plan = self._plan(n, tweak)
        a, b = divmod(_check(y, plan), plan.mod_v)
        if plan.round_xor:
            aes, rx, d8 = self._encrypt_block, plan.round_xor, (_BLOCK - plan.d) * 8
            mu, mv = plan.mod_u, plan.mod_v
            for i in range(ROUNDS - 1, 0, -2):
                f = int.from_bytes(aes((rx[i] ^ a).to_bytes(_BLOCK, "big")), "big") >> d8
                a, b = (b - f) % mv, a
                f = int.from_bytes(aes((rx[i - 1] ^ a).to_bytes(_BLOCK, "big")), "big") >> d8
                a, b = (b - f) % mu, a
        else:
            for i in range(ROUNDS - 1, -1, -1):
                f = self._round_slow(plan, i, a)
                a, b = (b - f) % (plan.mod_u if i % 2 == 0 else plan.mod_v), a
        return a * plan.mod_v + b

    # -- numeral-string interface --------------------------------------------------------------

    def encrypt(self, numerals: Sequence[int], tweak: bytes = b"") -> list[int]:
        """Encrypt a numeral string given as a sequence of numerals ``0 <= x < radix``."""
        n = len(numerals)
        return self._to_numerals(self.encrypt_int(self._from_numerals(numerals), n, tweak), n)

    def decrypt(self, numerals: Sequence[int], tweak: bytes = b"") -> list[int]:
        n = len(numerals)
        return self._to_numerals(self.decrypt_int(self._from_numerals(numerals), n, tweak), n)

    def encrypt_str(self, text: str, alphabet: str, tweak: bytes = b"") -> str:
        """Encrypt ``text`` whose symbols are numerals named by ``alphabet`` (``len == radix``)."""
        return self._str_apply(self.encrypt, text, alphabet, tweak)

    def decrypt_str(self, text: str, alphabet: str, tweak: bytes = b"") -> str:
        return self._str_apply(self.decrypt, text, alphabet, tweak)

    # -- internals -----------------------------------------------------------------------------

    def _str_apply(
        self,
        op: _NumeralOp,
        text: str,
        alphabet: str,
        tweak: bytes,
    ) -> str:
        if len(alphabet) != self.radix or len(set(alphabet)) != self.radix:
            raise FF1Error("alphabet must have radix distinct symbols")
        index = {c: i for i, c in enumerate(alphabet)}
        try:
            numerals = [index[c] for c in text]
        except KeyError:
            raise FF1Error("symbol outside the alphabet") from None
        return "".join(alphabet[x] for x in op(numerals, tweak))

    def _from_numerals(self, numerals: Sequence[int]) -> int:
        value = 0
        for x in numerals:
            if not 0 <= x < self.radix:
                raise FF1Error("numeral outside the radix")
            value = value * self.radix + x
        return value

    def _to_numerals(self, value: int, n: int) -> list[int]:
        out = [0] * n
        for k in range(n - 1, -1, -1):
            value, out[k] = divmod(value, self.radix)
        return out

    def _plan(self, n: int, tweak: bytes) -> _Plan:
        plan = self._plans.get((n, tweak))
        if plan is None:
            plan = self._plans[(n, tweak)] = self._make_plan(n, tweak)
        return plan

    def _make_plan(self, n: int, tweak: bytes) -> _Plan:
        shape = _shape(self.radix, n, tweak)
        p_state = self._encrypt_block(shape.p)
        round_xor: tuple[int, ...] = ()
        if shape.fast:
            state = p_state
            for block in shape.full_blocks:
                state = self._encrypt_block(_xor(state, block))
            base = int.from_bytes(state, "big") ^ shape.tail
            round_xor = tuple([base ^ r for r in shape.round_bits])
        return _Plan(
            shape.u,
            shape.v,
            shape.b,
            shape.d,
            shape.mod_u,
            shape.mod_v,
            shape.mod_u * shape.mod_v,
            round_xor,
            p_state,
            shape.prefix,
        )

    def _round_slow(self, plan: _Plan, i: int, num_b: int) -> int:
        """Steps 6.i-6.iv of FF1 for any lengths: the general CBC-MAC and output expansion."""
        q = plan.tweak_prefix + bytes([i]) + num_b.to_bytes(plan.b, "big")
        r = plan.p_state
        for k in range(0, len(q), _BLOCK):
            r = self._encrypt_block(_xor(r, q[k : k + _BLOCK]))
        s = bytearray(r)
        for j in range(1, math.ceil(plan.d / _BLOCK)):
            s += self._encrypt_block(_xor(r, j.to_bytes(_BLOCK, "big")))
        return int.from_bytes(s[: plan.d], "big")


@dataclass(frozen=True, slots=True)
class _Shape:
    """The key-independent part of a :class:`_Plan` (steps 1-5 of FF1 and the layout of Q)."""

    u: int
    v: int
    b: int
    d: int
    mod_u: int
    mod_v: int
    p: bytes
    prefix: bytes  # T || [0]^pad, the constant start of every Q
    fast: bool  # the round number and NUM(B) fit in Q's last block, S in R
    full_blocks: tuple[bytes, ...]  # fast path: the constant blocks before Q's last block
    tail: int  # fast path: the constant bytes in Q's last block, in position
    round_bits: tuple[int, ...]  # fast path: the round number i in position, for i in 0..9


@cache
def _shape(radix: int, n: int, tweak: bytes) -> _Shape:
    # Pure and small, so memoised for the process: building a key's plan then costs one AES call.
    if not 2 <= n <= MAX_LENGTH or radix**n < MIN_DOMAIN:
        raise FF1Error(f"length must be 2..2^32-1 with radix**length >= {MIN_DOMAIN}")
    t = len(tweak)
    if t > MAX_LENGTH:
        raise FF1Error("tweak too long")
    u = n // 2
    v = n - u
    # b = ceil(ceil(v * log2(radix)) / 8), the bytes holding any v-numeral value; computed with
    # integers, (radix**v - 1).bit_length() == ceil(v * log2(radix)), to avoid float rounding.
    b = ((radix**v - 1).bit_length() + 7) // 8
    d = 4 * ((b + 3) // 4) + 4
    p = (
        bytes([1, 2, 1])
        + radix.to_bytes(3, "big")
        + bytes([10, u % 256])
        + n.to_bytes(4, "big")
        + t.to_bytes(4, "big")
    )
    prefix = tweak + bytes((-t - b - 1) % _BLOCK)
    fast = 1 + b <= _BLOCK and d <= _BLOCK
    full_blocks: tuple[bytes, ...] = ()
    tail = 0
    if fast:
        # len(prefix) + 1 + b is a multiple of 16, so the prefix ends with the tail_len bytes
        # that share the last block with [i] || NUM(B).
        split = len(prefix) - (_BLOCK - 1 - b)
        full_blocks = tuple(prefix[k : k + _BLOCK] for k in range(0, split, _BLOCK))
        tail = int.from_bytes(prefix[split:], "big") << (8 * (1 + b))
    round_bits = tuple(i << (8 * b) for i in range(ROUNDS))
    return _Shape(u, v, b, d, radix**u, radix**v, p, prefix, fast, full_blocks, tail, round_bits)


def _check(x: int, plan: _Plan) -> int:
    if not 0 <= x < plan.size:
        raise FF1Error("value outside the domain radix**n")
    return x


def _xor(x: bytes, y: bytes) -> bytes:
    return (int.from_bytes(x, "big") ^ int.from_bytes(y, "big")).to_bytes(_BLOCK, "big")
