"""Every identifier the box's config accepts is one the platform accepts: a site or device id
that passes `gedge config check` must never be refused by the receiver."""
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config.base import IDENTIFIER_PATTERN
from edge.contract import PLATFORM_ID_PATTERN
from edge.platform.tokens import parse_tokens


@settings(max_examples=300, deadline=None)
@given(st.from_regex(IDENTIFIER_PATTERN, fullmatch=True))
def test_config_ids_are_platform_ids(ident):
    assert re.fullmatch(PLATFORM_ID_PATTERN, ident)
    assert parse_tokens(f"{ident} sha256:{'a' * 64}\n") == {"a" * 64: ident}


def test_the_platform_takes_more_than_the_config():
    assert re.fullmatch(PLATFORM_ID_PATTERN, "district:7")
    assert not re.fullmatch(IDENTIFIER_PATTERN, "district:7")
    assert not re.fullmatch(PLATFORM_ID_PATTERN, "-leading-dash")
    assert not re.fullmatch(PLATFORM_ID_PATTERN, "x" * 65)
