"""Phone pseudonyms are nobody's number: checked with Google's numbering metadata (phonenumbers)
over numbers of every region and non-geographic service it knows.

Of 1,000 valid numbers from +44, +49, +33, +61, +81 and +1, the old pseudonyms made 254 valid,
dialable ones (German fixed lines: the first digit kept, then "99": +4x became +49 9...).
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from chime_tap.api.validation import FastEngine
from chime_tap.cassettes.phones import PSEUDONYM_COUNTRY_CODE, pseudonymize_phone

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
SERVICES = sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
]


def is_real(e164: str) -> bool:
    """Whether phonenumbers calls ``e164`` a valid number of some region or service."""
    try:
        parsed = phonenumbers.parse(e164 if e164.startswith("+") else "+" + e164, None)
    except NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed)


def test_the_pseudonym_country_code_is_nobodys() -> None:
    code = int(PSEUDONYM_COUNTRY_CODE)
    assert code not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
    assert phonenumbers.region_code_for_country_code(code) == "ZZ"  # unknown
    with pytest.raises(NumberParseException) as error:
        phonenumbers.parse(f"+{PSEUDONYM_COUNTRY_CODE}21613702", None)
    assert error.value.error_type == NumberParseException.INVALID_COUNTRY_CODE


def _examples() -> list[str]:
    found = []
    for region in REGIONS:
        for kind in TYPES:
            n = phonenumbers.example_number_for_type(region, kind)
            if n is not None:
                found.append(phonenumbers.format_number(n, PhoneNumberFormat.E164))
    for code in SERVICES:
        n = phonenumbers.example_number_for_non_geo_entity(code)
        if n is not None:
            found.append(phonenumbers.format_number(n, PhoneNumberFormat.E164))
    return found


EXAMPLES = _examples()


def test_no_pseudonym_of_any_regions_example_numbers_is_a_real_number() -> None:
    assert len(EXAMPLES) > 1000 and all(is_real(n) for n in EXAMPLES)
    for key in (b"chime-tap default pseudonym key", b"a site's secret"):
        fakes = {n: pseudonymize_phone(n, key) for n in EXAMPLES}
        assert [f for f in fakes.values() if is_real(f)] == []
        assert all(FastEngine().is_valid("E164PhoneNumber", f) for f in fakes.values())
        assert len(set(fakes.values())) == len(fakes)  # no two numbers share a pseudonym


@st.composite
def real_numbers(draw) -> str:
    """A valid number of any region or service: an example number with other digits, redrawn
    until phonenumbers says it is valid (the first few tries nearly always are)."""
    example = draw(st.sampled_from(EXAMPLES))
    parsed = phonenumbers.parse(example, None)
    national = str(parsed.national_number)
    for _ in range(20):
        keep = draw(st.integers(1, max(1, len(national) - 1)))
        tail = draw(
            st.text("0123456789", min_size=len(national) - keep, max_size=len(national) - keep)
        )
        candidate = f"+{parsed.country_code}{national[:keep]}{tail}"
        if is_real(candidate):
            return candidate
    return example


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(number=real_numbers(), key=st.binary(min_size=1, max_size=32), plus=st.booleans())
def test_pseudonyms_of_real_numbers_of_every_region_are_not_real(number, key, plus) -> None:
    assert is_real(number)
    spelled = number if plus else number[1:]
    fake = pseudonymize_phone(spelled, key)
    assert not is_real(fake)
    assert fake == pseudonymize_phone(spelled, key)  # deterministic
    assert len(fake) == len(spelled) and fake.startswith("+") == plus  # E.164-shaped
    assert FastEngine().is_valid("E164PhoneNumber", fake)  # the schema's ^\+?[1-9]\d{1,14}$
