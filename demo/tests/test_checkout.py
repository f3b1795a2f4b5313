import time


def test_checkout_end_to_end():
    time.sleep(1.2)


def test_checkout_with_coupon():
    time.sleep(0.6)


def test_checkout_empty_cart():
    time.sleep(0.05)
