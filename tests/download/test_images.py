import io
import math

import pytest
from PIL import Image

from wit_pipeline.download.images import ImageOptions, ImageRejected, process_image


def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.mark.parametrize("mode,size,expected", [
    ("border", (400, 200), (256, 256)),
    ("keep_ratio", (400, 200), (512, 256)),
    ("center_crop", (400, 200), (256, 256)),
    ("no", (400, 200), (400, 200)),
    ("keep_ratio", (100, 50), (512, 256)),
])
def test_resize_modes_follow_img2dataset(mode, size, expected):
    out = process_image(encode(Image.new("RGB", size, (10, 200, 30))), ImageOptions(resize_mode=mode))
    assert (out.width, out.height) == expected
    assert (out.original_width, out.original_height) == size
    assert decode(out.data).size == expected


def test_border_pads_with_white_and_keeps_content_centred():
    out = process_image(encode(Image.new("RGB", (400, 200), (0, 0, 0))), ImageOptions(resize_mode="border"))
    img = decode(out.data).convert("RGB")
    assert img.getpixel((128, 5))[0] > 240  # top band is padding
    assert img.getpixel((128, 128))[0] < 15  # centre is the image


@pytest.mark.parametrize("mode", ["keep_ratio", "center_crop", "border"])
def test_resize_only_if_bigger_leaves_small_images_alone(mode):
    out = process_image(encode(Image.new("RGB", (100, 50))), ImageOptions(resize_mode=mode, resize_only_if_bigger=True))
    assert (out.width, out.height) == (100, 50)  # not padded either, as in img2dataset
    big = process_image(encode(Image.new("RGB", (600, 300))), ImageOptions(resize_mode=mode, resize_only_if_bigger=True))
    assert big.height == 256 if mode != "border" else (big.width, big.height) == (256, 256)


def test_large_jpeg_is_draft_decoded_to_the_right_size():
    data = encode(Image.radial_gradient("L").convert("RGB").resize((1400, 1000)), "JPEG", quality=90)
    out = process_image(data, ImageOptions(resize_mode="keep_ratio", image_size=256))
    assert (out.width, out.height) == (358, 256)
    assert (out.original_width, out.original_height) == (1400, 1000)


@pytest.mark.parametrize("make", [
    lambda: Image.new("P", (64, 32), 3),
    lambda: Image.new("L", (64, 32), 128),
    lambda: Image.new("CMYK", (64, 32), (0, 255, 0, 0)),
    lambda: Image.new("1", (64, 32), 1),
])
def test_odd_modes_become_rgb(make):
    out = process_image(encode(make(), "TIFF" if make().mode == "CMYK" else "PNG"), ImageOptions(image_size=32))
    assert decode(out.data).mode == "RGB"


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 0))  # fully transparent red
    out = process_image(encode(rgba), ImageOptions(image_size=32, encode_format="png"))
    assert decode(out.data).getpixel((16, 16)) == (255, 255, 255)
    la = Image.new("LA", (32, 32), (0, 255))  # opaque black
    assert decode(process_image(encode(la), ImageOptions(image_size=32, encode_format="png")).data).getpixel((3, 3)) == (0, 0, 0)


def test_16_bit_grayscale_is_scaled_not_clipped():
    img = Image.new("I;16", (32, 32), 32768)  # half of full scale
    out = process_image(encode(img), ImageOptions(image_size=32, encode_format="png"))
    value = decode(out.data).getpixel((5, 5))[0]
    assert 120 <= value <= 135


def test_animation_uses_first_frame():
    frames = [Image.new("RGB", (32, 32), color) for color in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    pixel = decode(process_image(data, ImageOptions(image_size=32, encode_format="png")).data).getpixel((10, 10))
    assert pixel[0] > 200 and pixel[2] < 50


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (60, 30), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 30, 30))  # white left half
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    out = process_image(encode(img, "JPEG", exif=exif, quality=95), ImageOptions(resize_mode="no"))
    assert (out.width, out.height) == (30, 60)
    assert (out.original_width, out.original_height) == (30, 60)
    upright = decode(out.data)
    assert upright.getpixel((15, 5))[0] > 200  # the white half is now on top
    assert upright.getpixel((15, 55))[0] < 60


@pytest.mark.parametrize("data,opts,status", [
    (b"<html>not an image</html>", ImageOptions(), "not_an_image"),
    (bytes(range(256)) * 8, ImageOptions(), "not_an_image"),
    (encode(Image.new("RGB", (40, 40))), ImageOptions(min_image_size=64), "image_too_small"),
    (encode(Image.new("RGB", (400, 40))), ImageOptions(max_aspect_ratio=3), "aspect_ratio_too_large"),
    (encode(Image.new("RGB", (400, 400))), ImageOptions(max_pixels=10_000), "decompression_bomb"),
    (encode(Image.effect_noise((400, 400), 64).convert("RGB"), "JPEG")[:4000], ImageOptions(), "decode_error"),
])
def test_rejections_have_a_status(data, opts, status):
    with pytest.raises(ImageRejected) as rejected:
        process_image(data, opts)
    assert rejected.value.status == status


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="--resize-mode"):
        ImageOptions(resize_mode="stretch").validate()
    with pytest.raises(ValueError, match="--max-aspect-ratio"):
        ImageOptions(max_aspect_ratio=0.5).validate()
    assert ImageOptions(max_aspect_ratio=math.inf).validate() is None
