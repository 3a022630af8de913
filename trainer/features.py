"""What the trainer reads from the prepared TFRecords, and the image preprocessing shared with serving."""
import tensorflow as tf

IMAGE_HEIGHT, IMAGE_WIDTH = 80, 60
CHANNELS = {'rgb': 3, 'grayscale': 1}

FEATURE_SPEC = {
    'image': tf.io.FixedLenFeature([], tf.string),
    'id': tf.io.FixedLenFeature([], tf.string),
    'class_name': tf.io.FixedLenFeature([], tf.string),
    'class_index': tf.io.FixedLenFeature([], tf.int64),
}


def decode_image(jpeg_bytes, channels):
    """JPEG bytes -> uint8 [80, 60, channels]; grayscale and odd-sized JPEGs come out the same shape."""
    image = tf.io.decode_jpeg(jpeg_bytes, channels=channels)
    image = tf.image.resize(image, [IMAGE_HEIGHT, IMAGE_WIDTH], method='bilinear')
    return tf.cast(tf.round(image), tf.uint8)


def rescale(image):
    """uint8 pixels -> float32 in [0, 1], as the seed's ImageDataGenerator(rescale=1/255) did."""
    return tf.cast(image, tf.float32) / 255.0


def preprocess(jpeg_bytes, channels):
    """The whole path from JPEG bytes to model input: training and the exported model both use it."""
    return rescale(decode_image(jpeg_bytes, channels))
