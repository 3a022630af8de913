"""What the trainer reads from the prepared TFRecords, and the image preprocessing shared with serving."""
import tensorflow as tf

from pipelines.rules import attributes

IMAGE_HEIGHT, IMAGE_WIDTH = 80, 60
CHANNELS = {'rgb': 3, 'grayscale': 1}

FEATURE_SPEC = {
    'image': tf.io.FixedLenFeature([], tf.string),
    'id': tf.io.FixedLenFeature([], tf.string),
    'class_name': tf.io.FixedLenFeature([], tf.string),
    'class_index': tf.io.FixedLenFeature([], tf.int64),
    # what the full-labels model reads (empty in data prepared before prepare wrote them)
    'productDisplayName': tf.io.FixedLenFeature([], tf.string, default_value=''),
    'masterCategory': tf.io.FixedLenFeature([], tf.string, default_value=''),
    'subCategory': tf.io.FixedLenFeature([], tf.string, default_value=''),
    'articleType': tf.io.FixedLenFeature([], tf.string, default_value=''),
    # the attributes the full-labels model also predicts (rules/attributes.py)
    **{name: tf.io.FixedLenFeature([], tf.string, default_value='') for name in attributes.ATTRIBUTES},
}


def decode_image(jpeg_bytes, channels):
    """JPEG bytes -> uint8 [80, 60, channels]; grayscale and odd-sized JPEGs come out the same shape.

    Most catalog images already are 80x60: those skip the resize (which would return the same pixels as
    floats), the cheaper path the training input's first epoch needs.
    """
    image = tf.io.decode_jpeg(jpeg_bytes, channels=channels)
    shape = tf.shape(image)
    fits = tf.logical_and(tf.equal(shape[0], IMAGE_HEIGHT), tf.equal(shape[1], IMAGE_WIDTH))

    def resized():
        return tf.cast(tf.round(tf.image.resize(image, [IMAGE_HEIGHT, IMAGE_WIDTH], method='bilinear')), tf.uint8)

    image = tf.cond(fits, lambda: image, resized)
    return tf.ensure_shape(image, [IMAGE_HEIGHT, IMAGE_WIDTH, channels])


def decode_images(jpeg_batch, channels):
    """A batch of JPEG bytes [B] -> uint8 [B, 80, 60, channels]."""
    return tf.map_fn(lambda jpeg: decode_image(jpeg, channels), jpeg_batch,
                     fn_output_signature=tf.TensorSpec([IMAGE_HEIGHT, IMAGE_WIDTH, channels], tf.uint8))


def rescale(image):
    """uint8 pixels -> float32 in [0, 1], as the reference notebook's ImageDataGenerator(rescale=1/255) did."""
    return tf.cast(image, tf.float32) / 255.0


def preprocess(jpeg_bytes, channels):
    """One JPEG's bytes -> model input, as training and the export decode and rescale a batch (for code that
    has one image at a time: the tests and the benchmarks)."""
    return rescale(decode_image(jpeg_bytes, channels))
