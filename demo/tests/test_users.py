import time

import pytest


@pytest.mark.parametrize("n", range(12))
def test_user_roundtrip(n):
    time.sleep(0.03)


def test_signup_sends_mail():
    time.sleep(0.3)
