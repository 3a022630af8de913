import io

from PIL import Image

from pipelines.rules import images


def _encoded(image, fmt):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_rgb_grayscale_and_odd_sized_jpegs_pass():
    assert images.check_jpeg(_encoded(Image.new('RGB', (60, 80), 'red'), 'JPEG')) is None
    assert images.check_jpeg(_encoded(Image.new('L', (60, 80), 128), 'JPEG')) is None
    assert images.check_jpeg(_encoded(Image.new('RGB', (53, 80), 'blue'), 'JPEG')) is None


def test_bad_bytes_are_refused_with_a_reason():
    jpeg = _encoded(Image.effect_noise((60, 80), 50).convert('RGB'), 'JPEG')
    assert images.check_jpeg(b'') == 'zero-byte file'
    assert 'not an image' in images.check_jpeg(b'this is not an image')
    assert 'decode' in images.check_jpeg(jpeg[:len(jpeg) // 2])
    assert 'PNG' in images.check_jpeg(_encoded(Image.new('RGB', (60, 80)), 'PNG'))


def test_content_hash_depends_on_bytes_only():
    assert images.content_hash(b'abc') == images.content_hash(b'abc') != images.content_hash(b'abd')


def test_the_signature_check_refuses_what_tensorflow_would_decode_but_is_no_jpeg():
    jpeg = _encoded(Image.new('RGB', (60, 80), 'red'), 'JPEG')
    assert images.check_signature(jpeg) is None
    assert images.check_signature(jpeg[:len(jpeg) // 2]) is None  # left to the model's decode
    assert 'PNG' in images.check_signature(_encoded(Image.new('RGB', (60, 80)), 'PNG'))
    assert 'GIF' in images.check_signature(_encoded(Image.new('RGB', (60, 80)), 'GIF'))
    assert images.check_signature(b'') == 'zero-byte file'
