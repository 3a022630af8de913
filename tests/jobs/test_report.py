"""The report for the synthetic catalog, loaded in headless Chromium: every section renders, nothing is fetched."""
import re
import shutil
import subprocess

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.errors import UserError
from pipelines.jobs import audit, report, score, stages
from pipelines.rules import decisions
from pipelines.storage import reviews
from tests.conftest import missing

pytestmark = pytest.mark.slow  # a real browser

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
SECTIONS = ('counts', 'hierarchy', 'balance', 'relabel', 'samples', 'model', 'calibration', 'scores', 'audit',
            'overlap', 'reviews')


def dump_dom(path):
    """The page's DOM after its scripts ran, as Chromium headless renders it from disk."""
    if not CHROMIUM:
        missing("Debian's chromium package is not installed here (.ci/run installs it)")
    result = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--dump-dom',
                             '--virtual-time-budget=15000', f'file://{path}'],
                            capture_output=True, text=True, timeout=180, check=True)
    return result.stdout


def section(dom, key):
    match = re.search(rf'<section id="{key}" data-rendered="(\w+)">(.*?)</section>', dom, re.S)
    assert match, f'section {key} is missing'
    return match.group(1), match.group(2)


def blocked_requests(dom):
    return int(re.search(r'<html[^>]* data-blocked-requests="(\d+)"', dom).group(1))


@pytest.fixture(scope='module')
def full_report(trained, tmp_path_factory):
    catalog_dir, prepared, model_dir, _, export_path = trained
    root = tmp_path_factory.mktemp('report')
    stages.validate_catalog(catalog_dir, str(root / 'validation'), None, PipelineOptions([]), 0.05)
    score.run(['--catalog', catalog_dir, '--model', export_path, '--output', str(root / 'scores'),
               '--disagree-min-confidence', '0.3'])
    audit.run(['--catalog', catalog_dir, '--output', str(root / 'audit'), '--epochs', '1', '--batch-size', '8',
               '--bn-momentum', '0.9'])
    db = str(root / 'reviews.sqlite')
    for decision in ('accept', 'keep'):
        reviews.record(db, decisions.Decision(
            id='1', decision=decision, masterCategory='Accessories', subCategory='Watches', articleType='Watches',
            given_class='Tshirts', predicted_class='Watches', flagged=True, decided_by='Ana', decided_at='2026-11-29',
            model_version='1', catalog_version='run', fingerprint='f'))
    path = str(root / 'report.html')
    report.run(['--prepared', prepared, '--validation', str(root / 'validation'), '--model-dir', model_dir,
                '--scores', str(root / 'scores'), '--audit', str(root / 'audit'), '--reviews', db, '--output', path])
    return path


def test_every_section_renders_in_chromium_and_nothing_is_fetched(full_report):
    dom = dump_dom(full_report)
    for key in SECTIONS:
        rendered, body = section(dom, key)
        assert rendered == 'yes' and 'class="note"' not in body, key
    plots = dom.count('class="plotly-graph-div')
    assert plots == 12  # 4 count bars, 2 sunbursts, 2 training curves, confusion matrix, reliability, risk-coverage,
    # the audit's noise per articleType
    assert len(re.findall(r'<svg[^>]*class="main-svg"', dom)) >= plots, 'a plotly figure did not draw'
    assert section(dom, 'samples')[1].count('<img') >= 30 * 2
    assert 'onclick="sortTable(this)"' in section(dom, 'model')[1]
    assert '<td>Tshirts</td><td>Watches</td><td>1</td><td>0</td><td>0</td><td>1</td>' in section(dom, 'reviews')[1]
    calibration = section(dom, 'calibration')[1]
    assert 'Reliability diagram' in calibration and 'Risk-coverage' in calibration and 'Confusable' in calibration
    assert 'Top issues' in section(dom, 'audit')[1] and section(dom, 'audit')[1].count('<img') >= 5
    assert 'judged blind on' in section(dom, 'audit')[1] and 'evidence' in section(dom, 'audit')[1]
    assert 'given A, looks B' in section(dom, 'overlap')[1]
    assert blocked_requests(dom) == 0


def test_the_request_detector_sees_a_request(full_report, tmp_path):
    with open(full_report, encoding='utf-8') as f:
        page = f.read()
    fetching = tmp_path / 'fetching.html'
    fetching.write_text(page.replace('<h1>', '<img src="http://example.invalid/x.png"><h1>', 1), encoding='utf-8')
    assert blocked_requests(dump_dom(str(fetching))) >= 1


def test_missing_inputs_leave_their_sections_out_with_a_note(trained, tmp_path):
    path = str(tmp_path / 'report.html')
    sections = {s.key: s for s in report.run(['--prepared', trained[1], '--output', path])}
    assert sections['model'].note and not sections['model'].body
    assert sections['calibration'].note and not sections['calibration'].body
    assert sections['scores'].note and not sections['scores'].body
    assert sections['audit'].note and not sections['audit'].body
    assert sections['overlap'].note and not sections['overlap'].body
    assert 'validation' in sections['balance'].note and sections['balance'].body
    assert sections['samples'].body and sections['counts'].body
    dom = dump_dom(path)
    assert section(dom, 'model')[0] == 'no' and blocked_requests(dom) == 0


def test_not_a_prepared_folder_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match='not a prepare output'):
        report.run(['--prepared', str(tmp_path), '--output', str(tmp_path / 'r.html')])
