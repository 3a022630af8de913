"""Checking image bytes before they become training data or get scored."""
import hashlib
import io

from PIL import Image, UnidentifiedImageError

from pipelines.rules import catalog
from pipelines.storage import files

# Catalog images are thumbnails; anything huge is not one of them (and guards against decompression bombs).
Image.MAX_IMAGE_PIXELS = 50_000_000


def check_jpeg(data):
    """Returns None when `data` is a JPEG that decodes completely, else a readable reason.

    Only JPEG is accepted: the trainer and the exported model decode with tf.io.decode_jpeg, so a PNG
    saved as .jpg is refused here rather than failing later in training or scoring.
    """
    if not data:
        return 'zero-byte file'
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != 'JPEG':
                return f'a {image.format} image, not a JPEG'
            image.load()
    except UnidentifiedImageError:
        return 'not an image'
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        return f'does not decode: {e}'
    return None


JPEG_SIGNATURE = b'\xff\xd8\xff'  # start of image, then the first marker


def check_signature(data):
    """None when `data` starts as a JPEG does, else check_jpeg's reason. A cheap check for bytes that a batched
    tf.io.decode_jpeg decodes next (which fails on any JPEG that does not decode, but also decodes PNG, GIF and
    BMP)."""
    return None if data.startswith(JPEG_SIGNATURE) else check_jpeg(data)


def undecodable(row, problem):
    """The quarantine record of a row whose image does not decode."""
    return catalog.quarantine_row(row, catalog.UNDECODABLE_IMAGE, f'images/{row.id}.jpg: {problem}')


def read_hashed(row, decode=True):
    """((row with its `content_hash`, JPEG bytes), None) for a row whose image decodes, or (None, its quarantine
    record). With `decode` false only the JPEG signature is checked here: for bytes a model decodes next, which
    sets aside the ones that then fail (transforms/inference.py)."""
    data = files.read_bytes(row.image_path)
    problem = check_jpeg(data) if decode else check_signature(data)
    if problem:
        return None, undecodable(row, problem)
    return (row._replace(content_hash=content_hash(data)), data), None


def content_hash(data):
    """Hex SHA-256 of the image bytes: the key of the split and of the duplicate-image groups."""
    return hashlib.sha256(data).hexdigest()
