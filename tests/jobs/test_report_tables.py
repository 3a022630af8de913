"""The report's tables that need no browser."""
from pipelines.jobs import report


def test_the_report_shows_placements_apart_and_nothing_when_there_are_none():
    shown = report.placements_table({'count': 2, 'by_pair': [{'given': 'Bags', 'predicted': 'Topwear', 'count': 2}]})
    assert 'Placements, not flags: 2' in shown and '<td>Bags</td><td>Topwear</td><td>2</td>' in shown
    assert report.placements_table({'count': 0, 'by_pair': []}) == '' == report.placements_table({})
