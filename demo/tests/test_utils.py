import pytest


@pytest.mark.parametrize("value", range(30))
def test_slugify_is_idempotent(value):
    assert str(value) == str(value)
