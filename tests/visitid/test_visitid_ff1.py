"""FF1 (NIST SP 800-38G): the published samples and an independent transcription of the spec."""

from __future__ import annotations

import math

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from nhihub.visitid.ff1 import FF1, FF1Error

KEY_128 = "2B7E151628AED2A6ABF7158809CF4F3C"
KEY_192 = KEY_128 + "EF4359D8D580AA4F"
KEY_256 = KEY_192 + "7F036D6F04FC6A94"
DIGITS = "0123456789"
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
TWEAK_10 = "39383736353433323130"
TWEAK_11 = "3737373770717273373737"

# NIST FF1 samples 1-9 ("FF1samples.pdf", SP 800-38G examples): key, radix, tweak, PT, CT.
NIST_SAMPLES = [
    (KEY_128, 10, "", "0123456789", "2433477484"),
    (KEY_128, 10, TWEAK_10, "0123456789", "6124200773"),
    (KEY_128, 36, TWEAK_11, "0123456789abcdefghi", "a9tv40mll9kdu509eum"),
    (KEY_192, 10, "", "0123456789", "2830668132"),
    (KEY_192, 10, TWEAK_10, "0123456789", "2496655549"),
    (KEY_192, 36, TWEAK_11, "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"),
    (KEY_256, 10, "", "0123456789", "6657667009"),
    (KEY_256, 10, TWEAK_10, "0123456789", "1001623463"),
    (KEY_256, 36, TWEAK_11, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"),
]


@pytest.mark.parametrize(("key", "radix", "tweak", "plain", "cipher"), NIST_SAMPLES)
def test_nist_samples(key: str, radix: int, tweak: str, plain: str, cipher: str) -> None:
    f = FF1(bytes.fromhex(key), radix)
    alphabet = DIGITS if radix == 10 else BASE36
    assert f.encrypt_str(plain, alphabet, bytes.fromhex(tweak)) == cipher
    assert f.decrypt_str(cipher, alphabet, bytes.fromhex(tweak)) == plain


def reference_encrypt(key: bytes, radix: int, tweak: bytes, x: list[int]) -> list[int]:
    """FF1.Encrypt written line by line from SP 800-38G section 6.2, with no shortcuts."""
    aes = Cipher(algorithms.AES(key), modes.ECB()).encryptor()

    def ciph(block: bytes) -> bytes:
        return aes.update(block)

    def num(xs: list[int]) -> int:
        value = 0
        for digit in xs:
            value = value * radix + digit
        return value

    def str_m(value: int, m: int) -> list[int]:
        out = []
        for _ in range(m):
            value, digit = divmod(value, radix)
            out.append(digit)
        return out[::-1]

    def prf(data: bytes) -> bytes:
        y = bytes(16)
        for j in range(0, len(data), 16):
            y = ciph(bytes(p ^ q for p, q in zip(y, data[j : j + 16], strict=True)))
        return y

    n, t = len(x), len(tweak)
    u = n // 2
    v = n - u
    a, b_half = x[:u], x[u:]
    b = math.ceil(math.ceil(v * math.log2(radix)) / 8)
    d = 4 * math.ceil(b / 4) + 4
    p = bytes([1, 2, 1]) + radix.to_bytes(3, "big") + bytes([10, u % 256])
    p += n.to_bytes(4, "big") + t.to_bytes(4, "big")
    for i in range(10):
        q = tweak + bytes((-t - b - 1) % 16) + bytes([i]) + num(b_half).to_bytes(b, "big")
        r = prf(p + q)
        s = r
        for j in range(1, math.ceil(d / 16)):
            s += ciph(bytes(p_ ^ q_ for p_, q_ in zip(r, j.to_bytes(16, "big"), strict=True)))
        y = int.from_bytes(s[:d], "big")
        m = u if i % 2 == 0 else v
        c = (num(a) + y) % radix**m
        a, b_half = b_half, str_m(c, m)
    return a + b_half


@st.composite
def ff1_cases(draw: st.DrawFn) -> tuple[bytes, int, bytes, list[int]]:
    key = draw(st.sampled_from([16, 24, 32]).flatmap(lambda k: st.binary(min_size=k, max_size=k)))
    radix = draw(st.one_of(st.integers(2, 64), st.sampled_from([34, 255, 256, 1000, 65536])))
    min_len = max(2, math.ceil(math.log(1_000_000, radix)))
    while radix**min_len < 1_000_000:  # guard against float rounding in the line above
        min_len += 1
    n = draw(st.integers(min_len, min_len + 24))
    tweak = draw(st.binary(max_size=40))
    x = draw(st.lists(st.integers(0, radix - 1), min_size=n, max_size=n))
    return key, radix, tweak, x


@settings(max_examples=200, deadline=None)
@given(ff1_cases())
def test_matches_the_reference_and_round_trips(case: tuple[bytes, int, bytes, list[int]]) -> None:
    key, radix, tweak, x = case
    f = FF1(key, radix)
    y = f.encrypt(x, tweak)
    assert y == reference_encrypt(key, radix, tweak, x)
    assert f.decrypt(y, tweak) == x


@pytest.mark.parametrize(
    ("radix", "n", "tweak_len"),
    [
        (65536, 20, 0),  # NUM(B) needs 20 bytes: Q has two variable blocks
        (65536, 14, 5),  # d = 20 > 16: S needs a second AES block
        (34, 12, 0),  # the inner layer of the visit identifier
        (34, 20, 0),  # the outer layer
        (2, 20, 100),  # long tweak, several constant blocks
    ],
)
def test_both_code_paths_match_the_reference(radix: int, n: int, tweak_len: int) -> None:
    key = bytes(range(32))
    tweak = bytes(range(tweak_len))
    f = FF1(key, radix)
    for seed in range(5):
        x = [(seed * 7919 + k * 104729) % radix for k in range(n)]
        y = f.encrypt(x, tweak)
        assert y == reference_encrypt(key, radix, tweak, x)
        assert f.decrypt(y, tweak) == x


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 34**20 - 1), st.binary(max_size=20))
def test_integer_interface_agrees_with_numerals(value: int, tweak: bytes) -> None:
    f = FF1(bytes(16), 34)
    numerals = [(value // 34**k) % 34 for k in range(19, -1, -1)]
    out = f.encrypt_int(value, 20, tweak)
    assert [(out // 34**k) % 34 for k in range(19, -1, -1)] == f.encrypt(numerals, tweak)
    assert f.decrypt_int(out, 20, tweak) == value


def test_is_a_permutation_on_a_small_domain() -> None:
    f = FF1(bytes(16), 10)
    images = {f.encrypt_int(x, 6) for x in range(1_000_000)[::97]}
    assert len(images) == len(range(1_000_000)[::97])
    assert all(0 <= y < 10**6 for y in images)


def test_tweak_and_key_change_the_output() -> None:
    plain = list(range(10))
    a = FF1(bytes(16), 10).encrypt(plain)
    assert FF1(bytes(16), 10).encrypt(plain, b"t") != a
    assert FF1(bytes(15) + b"\x01", 10).encrypt(plain) != a


@pytest.mark.parametrize(
    ("key", "radix"),
    [(bytes(15), 10), (bytes(33), 10), (bytes(16), 1), (bytes(16), 65537)],
)
def test_rejects_bad_keys_and_radixes(key: bytes, radix: int) -> None:
    with pytest.raises(FF1Error):
        FF1(key, radix)


def test_rejects_domains_below_a_million_and_values_outside() -> None:
    f = FF1(bytes(16), 10)
    with pytest.raises(FF1Error):
        f.encrypt([1, 2, 3, 4, 5])  # 10**5 < 10**6
    with pytest.raises(FF1Error):
        f.encrypt([0, 1, 2, 3, 4, 10])  # numeral 10 in radix 10
    with pytest.raises(FF1Error):
        f.encrypt_int(10**6, 6)
    with pytest.raises(FF1Error):
        f.decrypt_int(-1, 6)
    with pytest.raises(FF1Error):
        f.encrypt_str("01234x", DIGITS)
    with pytest.raises(FF1Error):
        f.encrypt_str("012345", "0123456789a")  # alphabet longer than the radix
