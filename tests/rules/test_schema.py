"""The curated schema: which columns every row must hold, and which may be empty."""
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from pipelines.rules import catalog, schema


def _inferred():
    rows = [dict(zip(catalog.COLUMNS, [1, 'Men', 'Apparel', 'Topwear', 'Tshirts', 'Blue', 'Fall', 2012, 'Casual',
                                       'Tee'])),
            dict(zip(catalog.COLUMNS, [2, 'Women', 'Footwear', 'Shoes', 'Heels', 'Red', 'Summer', 2014, 'Casual',
                                       'Pumps']))]
    return tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(pd.DataFrame(rows)))


@pytest.mark.parametrize('curated', [schema.load_schema(), None], ids=['committed', 'curated-now'])
def test_label_columns_may_be_empty_and_id_and_name_may_not(curated):
    curated = curated or schema.curate(_inferred())
    for name in schema.OPTIONAL_COLUMNS:
        feature = tfdv.get_feature(curated, name)
        assert feature.presence.min_fraction == 0.0 and not feature.HasField('shape'), name
    for name in ('id', 'productDisplayName'):
        assert tfdv.get_feature(curated, name).presence.min_fraction == 1.0, name
