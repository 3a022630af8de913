import json
import pytest

from pipelines.errors import UserError
from pipelines.rules import catalog

HEADER = catalog.COLUMNS


def parse(text):
    return catalog.parse_line(text.encode('utf-8'), HEADER)


def test_good_line_keeps_every_column_and_the_raw_line():
    kind, row = parse('15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,Turtle Men Navy Blue Shirt')
    assert kind == 'row'
    assert row.id == '15970' and row.articleType == 'Shirts' and row.productDisplayName.startswith('Turtle')
    assert row.line.startswith('15970,Men')


def test_quoted_commas_quotes_and_non_ascii_are_one_field():
    kind, row = parse('1,Men,Apparel,Topwear,Tshirts,Blue,,,,"Café, ""Classic"" Tee"')
    assert kind == 'row'
    assert row.productDisplayName == 'Café, "Classic" Tee'
    assert row.season == '' and row.year == ''


def test_crlf_leftover_is_stripped():
    kind, row = parse('1,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Casual,Tee\r')
    assert kind == 'row' and row.productDisplayName == 'Tee'


def test_blank_line_is_not_a_row():
    assert parse('') is None
    assert parse('   ') is None


def test_unquoted_commas_in_the_display_name_are_joined_back_and_the_line_marked_repaired():
    kind, row = catalog.parse_line(b'1,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Casual,Puma Men, Black, Tee',
                                   HEADER, 7)
    assert kind == 'row' and row.repaired and row.line_number == 7
    assert row.productDisplayName == 'Puma Men, Black, Tee' and row.usage == 'Casual'
    assert not parse('1,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Casual,Tee')[1].repaired


def test_extra_fields_stay_ambiguous_when_the_last_column_is_not_free_text():
    header = (*HEADER[:-2], HEADER[-1], HEADER[-2])  # ..., productDisplayName, usage
    kind, record = catalog.parse_line(b'1,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Puma, Tee,Casual', header, 3)
    assert kind == 'quarantine' and record.reason == catalog.WRONG_FIELD_COUNT and record.line_number == 3


@pytest.mark.parametrize('line, reason', [
    ('1,Men,Apparel,Topwear', catalog.WRONG_FIELD_COUNT),
    ('12a,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Casual,Tee', catalog.INVALID_ID),
    ('../../etc/passwd,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Casual,Tee', catalog.INVALID_ID),
    ('-5,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Casual,Tee', catalog.INVALID_ID),
])
def test_bad_lines_are_quarantined_with_their_reason(line, reason):
    kind, record = parse(line)
    assert kind == 'quarantine'
    assert record.reason == reason and record.line == line and record.detail


def test_a_row_with_empty_label_columns_is_kept_for_scoring():
    kind, row = parse('1,Men,,Topwear,,Blue,Fall,2011,Casual,Tee')
    assert kind == 'row' and catalog.empty_labels(row.labels) == ['masterCategory', 'articleType']


def test_invalid_utf8_is_quarantined():
    kind, record = catalog.parse_line(b'1,Men,Apparel,Topwear,Tshirts,Blue,Fall,2011,Casual,Caf\xe9', HEADER)
    assert kind == 'quarantine' and record.reason == catalog.INVALID_ENCODING


def _catalog_with_header(tmp_path, header_bytes):
    (tmp_path / 'styles.csv').write_bytes(header_bytes + b'\n')
    return str(tmp_path)


def test_header_with_bom_and_crlf_gives_the_columns(tmp_path):
    path = _catalog_with_header(tmp_path, b'\xef\xbb\xbf' + ','.join(HEADER).encode() + b'\r')
    assert catalog.read_header(path) == HEADER


def test_header_in_another_order_is_read_as_it_is(tmp_path):
    reordered = HEADER[::-1]
    assert catalog.read_header(_catalog_with_header(tmp_path, ','.join(reordered).encode())) == reordered


def test_missing_required_column_is_a_clear_error(tmp_path):
    path = _catalog_with_header(tmp_path, ','.join(c for c in HEADER if c != 'articleType').encode())
    with pytest.raises(UserError, match='missing required column.*articleType'):
        catalog.read_header(path)


def test_missing_styles_csv_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match='no styles.csv'):
        catalog.read_header(str(tmp_path))


def test_a_quarantine_record_read_back_is_a_quarantined_with_defaults_for_older_fields():
    written = catalog.Quarantined('7', catalog.UNDECODABLE_IMAGE, 'truncated', '7,Men,...', 8, 1200, 1.7e9)
    assert catalog.quarantined_from_dict(json.loads(json.dumps(written._asdict()))) == written
    older = {'id': '7', 'reason': catalog.MISSING_IMAGE, 'detail': '', 'line': '7,Men,...'}
    assert catalog.quarantined_from_dict(older) == catalog.Quarantined('7', catalog.MISSING_IMAGE, '', '7,Men,...')
