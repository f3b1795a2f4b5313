import time


class TestMonthlyReport:
    def test_totals(self):
        time.sleep(0.8)

    def test_export_csv(self):
        time.sleep(0.4)


def test_report_permissions():
    time.sleep(0.05)
