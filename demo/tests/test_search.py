import time

import pytest


@pytest.mark.parametrize("query", ["shoes", "red shoes", "shoes size 44", "x" * 40])
def test_search_ranking(query):
    time.sleep(0.1 * len(query.split()) + 0.05)


def test_search_empty_query():
    time.sleep(0.02)
