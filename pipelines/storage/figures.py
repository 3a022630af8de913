"""Pictures of catalog items drawn from their image files (the reference notebook's sample grids)."""
import io
import math

import matplotlib
from PIL import Image

from pipelines.storage import files

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position


def _read_image(item):
    return Image.open(io.BytesIO(files.read_bytes(item['image_path']))).convert('RGB')


def image_grid(items, path, title, caption, columns=8, image=_read_image):
    """Writes a PNG grid of `items` captioned by `caption(item)`; False if there are none. `image(item)`
    gives the picture: by default the file at the item's `image_path`."""
    if not items:
        return False
    columns = min(columns, len(items))
    rows = math.ceil(len(items) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.9, rows * 2.9), squeeze=False)
    for ax in axes.flat:
        ax.axis('off')
    for ax, item in zip(axes.flat, items):
        picture = image(item)
        ax.imshow(picture, cmap='gray' if getattr(picture, 'ndim', 3) == 2 else None)
        ax.set_title(caption(item), fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=90)
    plt.close(fig)
    files.write_bytes(path, buffer.getvalue(), 'image/png')
    return True
