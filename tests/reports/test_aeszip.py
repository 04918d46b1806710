"""WinZip AES-256 zips: opened by an independent reader (conftest) and by 7-Zip when present."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhihub.reports.aeszip import ZipPasswordError, aes_zip, check_password, ctr_le

Unzip = Callable[[bytes, str], dict[str, bytes]]
FILES = [
    ("results.csv", b"a,b\r\n" * 500),
    ("健保卡1.0比對不到健保卡2.0之清單.csv", "\ufeff中文,1\r\n".encode()),
    ("empty.txt", b""),
]


def test_right_password_opens_every_file(aes_unzip: Unzip) -> None:
    archive = aes_zip(FILES, "A123456789")
    assert aes_unzip(archive, "A123456789") == dict(FILES)


def test_wrong_password_is_refused(aes_unzip: Unzip, bad_zip: type[Exception]) -> None:
    archive = aes_zip(FILES, "A123456789")
    with pytest.raises(bad_zip, match="wrong password"):
        aes_unzip(archive, "A123456780")


def test_altered_byte_fails_authentication(aes_unzip: Unzip, bad_zip: type[Exception]) -> None:
    archive = bytearray(aes_zip([("x.bin", bytes(range(256)))], "password1"))  # stored
    archive[80] ^= 0x01  # inside the encrypted data of the only member
    with pytest.raises(bad_zip, match="authentication"):
        aes_unzip(bytes(archive), "password1")


def test_directory_is_standard_zip() -> None:
    # Python's zipfile cannot decrypt AES but must list the members: the structure is standard.
    info = zipfile.ZipFile(BytesIO(aes_zip(FILES, "secret12"))).infolist()
    assert [i.filename for i in info] == [n for n, _ in FILES]
    assert [i.file_size for i in info] == [len(c) for _, c in FILES]
    assert all(i.compress_type == 99 and i.flag_bits & 1 for i in info)


def test_same_salt_same_bytes_and_random_salt_differs() -> None:
    salts = [bytes(16)] * len(FILES)
    assert aes_zip(FILES, "pw", salts=salts) == aes_zip(FILES, "pw", salts=salts)
    assert aes_zip(FILES, "pw") != aes_zip(FILES, "pw")


def test_ctr_is_its_own_inverse_and_not_nist_big_endian() -> None:
    key = bytes(range(32))
    data = bytes(range(256)) * 3
    assert ctr_le(key, ctr_le(key, data)) == data
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    nist = Cipher(algorithms.AES(key), modes.CTR((1).to_bytes(16, "big"))).encryptor()
    assert ctr_le(key, data) != nist.update(data)


@pytest.mark.parametrize("bad", ["", "密碼12345", "tab\there"])
def test_unusable_passwords_are_refused(bad: str) -> None:
    with pytest.raises(ZipPasswordError):
        check_password(bad)


def test_minimum_length_is_enforced() -> None:
    with pytest.raises(ZipPasswordError, match="8"):
        aes_zip(FILES, "short", min_password_length=8)


@settings(max_examples=25, deadline=None)
@given(
    contents=st.lists(st.binary(max_size=2000), min_size=1, max_size=3),
    password=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1,
                     max_size=20),
)  # fmt: skip
def test_any_content_round_trips(aes_unzip: Unzip, contents: list[bytes], password: str) -> None:
    files = [(f"f{i}.bin", c) for i, c in enumerate(contents)]
    assert aes_unzip(aes_zip(files, password), password) == dict(files)


SEVEN_ZIP = shutil.which("7z") or shutil.which("7za") or shutil.which("7zz")


@pytest.mark.skipif(
    SEVEN_ZIP is None, reason="7-Zip not installed (apt-get install p7zip-full): 7z check skipped"
)
def test_seven_zip_opens_with_right_password_only(tmp_path: Path) -> None:
    assert SEVEN_ZIP is not None
    archive = tmp_path / "report.zip"
    archive.write_bytes(aes_zip(FILES, "A123456789"))
    wrong = subprocess.run([SEVEN_ZIP, "t", "-pWRONG", str(archive)], capture_output=True)
    assert wrong.returncode != 0
    out = tmp_path / "out"
    right = subprocess.run(
        [SEVEN_ZIP, "x", "-pA123456789", f"-o{out}", str(archive)], capture_output=True
    )
    assert right.returncode == 0, right.stdout.decode(errors="replace")
    for name, content in FILES:
        assert (out / name).read_bytes() == content
