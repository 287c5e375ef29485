"""KSeF numbers: the official CRC-8 examples (test-vectors TV-4) and the official validator's messages."""
from __future__ import annotations

import datetime as dt

import pytest

from ksef_edge.domain.errors import KsefNumberError
from ksef_edge.domain.ksef_number import (
    crc8,
    is_valid_ksef_number,
    ksef_number_date,
    make_ksef_number,
    validate_ksef_number,
)

TV4 = [
    "5265877635-20250826-0100001AF629-AF",
    "5265877635-20250729-01004014E040-00",
    "5265877635-20250626-010080DD2B5E-26",
    "5265877635-20250916-0200A0D6723E-C2",
    "5265877635-20250916-010040741B3E-46",
]


@pytest.mark.parametrize("number", TV4)
def test_tv4_official_numbers_validate_and_crc_matches(number):
    assert validate_ksef_number(number) == number
    assert f"{crc8(number[:32].encode()):02X}" == number[-2:]


@pytest.mark.parametrize("number", TV4)
def test_tv4_make_reproduces_official_numbers(number):
    nip, date, technical, _ = number.split("-")
    assert make_ksef_number(nip, dt.datetime.strptime(date, "%Y%m%d").date(), technical) == number


def test_empty_number_message_mirrors_official_validator():
    with pytest.raises(KsefNumberError, match=r"^Numer KSeF jest pusty\.$"):
        validate_ksef_number("")
    with pytest.raises(KsefNumberError, match="pusty"):
        validate_ksef_number("   ")


def test_wrong_length_message_mirrors_official_validator():
    with pytest.raises(KsefNumberError) as err:
        validate_ksef_number(TV4[0][:-1])
    assert str(err.value) == "Numer KSeF ma nieprawidłową długość: 34. Oczekiwana długość to 35."


@pytest.mark.parametrize("bad", [
    "5265877635-20250826-0100001AF629-AE",  # wrong CRC
    "5265877635-20250826-0100001AF628-AF",  # one technical digit changed
    "5265877636-20250826-0100001AF629-AF",  # NIP changed
])
def test_crc_mismatch_is_rejected(bad):
    assert not is_valid_ksef_number(bad)
    with pytest.raises(KsefNumberError, match="CRC-8"):
        validate_ksef_number(bad)


@pytest.mark.parametrize("bad", [
    "5265877635-20250826-0100001af629-AF",  # lowercase hex
    "0265877635-20250826-0100001AF629-AF",  # NIP cannot start with 0
    "5265877635_20250826-0100001AF629-AF",  # separator
    "5265877635-20251326-0100001AF629-AF",  # month 13
])
def test_bad_format_is_rejected(bad):
    with pytest.raises(KsefNumberError, match="format"):
        validate_ksef_number(bad)


def test_impossible_date_is_rejected():
    data = "5265877635-20250230-0100001AF629"
    with pytest.raises(KsefNumberError, match="dat"):
        validate_ksef_number(f"{data}-{crc8(data.encode()):02X}")


def test_make_rejects_bad_parts_and_reads_back_the_date():
    with pytest.raises(KsefNumberError):
        make_ksef_number("5265877635", dt.date(2025, 8, 26), "0100001af629")
    with pytest.raises(KsefNumberError):
        make_ksef_number("526587763", dt.date(2025, 8, 26), "0100001AF629")
    assert ksef_number_date(TV4[0]) == dt.date(2025, 8, 26)


def test_crc8_known_values():
    assert crc8(b"") == 0
    assert crc8(b"123456789") == 0xF4  # CRC-8/SMBUS check value (poly 0x07, init 0)
