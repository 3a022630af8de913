"""Pictures of catalog items drawn from their image files (the seed report's sample grids)."""
import io
import math

import matplotlib
from apache_beam.io.filesystems import FileSystems
from PIL import Image

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position


def image_grid(items, path, title, caption, columns=8):
    """Writes a PNG grid of `items` (dicts with `image_path`) captioned by `caption(item)`; False if none."""
    if not items:
        return False
    columns = min(columns, len(items))
    rows = math.ceil(len(items) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.9, rows * 2.9), squeeze=False)
    for ax in axes.flat:
        ax.axis('off')
    for ax, item in zip(axes.flat, items):
        with FileSystems.open(item['image_path'], compression_type='uncompressed') as f:
            ax.imshow(Image.open(io.BytesIO(f.read())).convert('RGB'))
        ax.set_title(caption(item), fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    with FileSystems.create(path, mime_type='image/png') as f:
        fig.savefig(f, format='png', dpi=90)
    plt.close(fig)
    return True
