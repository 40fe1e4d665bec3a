"""Mask helpers: the right alpha in the right pixels, and masks the edit endpoint accepts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import nbimages
from nbimages.errors import InvalidInputError
from nbimages.masks import invert, mask_alpha, mask_from_array, mask_from_box, outpaint, paste_outside_mask


def alpha(image: nbimages.Image) -> np.ndarray:
    assert image.format == "png"
    return np.asarray(image.to_pil().convert("RGBA"))[..., 3]


def test_mask_from_box_alpha(png: Callable[..., bytes]) -> None:
    mask = mask_from_box((64, 32), (10, 5, 30, 20))
    assert mask.size == (64, 32) and mask.to_pil().mode == "RGBA"
    a = alpha(mask)
    assert a.shape == (32, 64)
    assert (a[5:20, 10:30] == 0).all()  # edit inside, right and bottom edges exclusive
    outside = np.ones_like(a, dtype=bool)
    outside[5:20, 10:30] = False
    assert (a[outside] == 255).all()
    assert int((a == 0).sum()) == 20 * 15


def test_mask_from_box_takes_the_size_of_an_image(png: Callable[..., bytes], tmp_path: Any) -> None:
    path = tmp_path / "p.png"
    path.write_bytes(png((48, 80)))
    for source in (png((48, 80)), path, nbimages.Image(png((48, 80)))):
        assert mask_from_box(source, (0, 0, 48, 80)).size == (48, 80)
    assert (alpha(mask_from_box(png((48, 80)), (0, 0, 48, 80))) == 0).all()


@pytest.mark.parametrize("box", [(10, 10, 10, 20), (30, 0, 10, 5), (-1, 0, 5, 5), (0, 0, 65, 5), (0, 0, 5, 33), (1, 2, 3)])
def test_mask_from_box_rejects_boxes_outside_the_image(box: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        mask_from_box((64, 32), box)
    assert info.value.param == "box"


@pytest.mark.parametrize("size", [(0, 10), (10, -1), (1.5, 2), ("a", 2)])
def test_mask_from_box_rejects_bad_sizes(size: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        mask_from_box(size, (0, 0, 1, 1))
    assert info.value.param == "size"


def test_mask_from_array_marks_painted_pixels_editable() -> None:
    painted = np.zeros((20, 30), dtype=bool)
    painted[2:5, 7:9] = True
    mask = mask_from_array(painted)
    a = alpha(mask)
    assert mask.size == (30, 20)
    assert (a[painted] == 0).all() and (a[~painted] == 255).all()
    floats = painted.astype(float) * 0.7
    assert (alpha(mask_from_array(floats)) == a).all()
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    rgba[painted, 3] = 255  # a painting layer: alpha is the brush
    assert (alpha(mask_from_array(rgba)) == a).all()
    rgb = np.zeros((20, 30, 3), dtype=np.uint8)
    rgb[painted, 1] = 200
    assert (alpha(mask_from_array(rgb)) == a).all()


@pytest.mark.parametrize("shape", [(5,), (0, 4), (2, 2, 2, 2)])
def test_mask_from_array_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidInputError) as info:
        mask_from_array(np.zeros(shape))
    assert info.value.param == "painted"


def test_invert_swaps_edit_and_keep() -> None:
    mask = mask_from_box((16, 16), (4, 4, 8, 8))
    flipped = invert(mask)
    assert flipped.size == (16, 16)
    assert ((alpha(flipped) == 255) == (alpha(mask) == 0)).all()
    assert (alpha(invert(flipped)) == alpha(mask)).all()
    assert (mask_alpha(flipped) == alpha(flipped)).all()


def test_invert_keeps_partial_alpha_complementary(png: Callable[..., bytes]) -> None:
    soft = png((4, 4), (0, 0, 0, 100), "RGBA")
    assert (alpha(invert(soft)) == 155).all()


def test_outpaint_extends_and_rounds_to_16(png: Callable[..., bytes]) -> None:
    source = png((100, 60), (200, 10, 10))
    image, mask = outpaint(source, left=30, top=10, right=50)
    # 30 + 100 + 50 = 180 -> 192 (right grows by 12); 10 + 60 = 70 -> 80 (bottom grows by 10)
    assert image.size == (192, 80) and mask.size == (192, 80)
    pixels = np.asarray(image.to_pil().convert("RGBA"))
    assert (pixels[10:70, 30:130] == (200, 10, 10, 255)).all()  # the original, in place
    assert (pixels[:10, :, 3] == 0).all() and (pixels[:, :30, 3] == 0).all() and (pixels[:, 130:, 3] == 0).all()
    a = alpha(mask)
    assert (a[10:70, 30:130] == 255).all()
    keep = np.zeros_like(a, dtype=bool)
    keep[10:70, 30:130] = True
    assert (a[~keep] == 0).all()


@pytest.mark.parametrize(("sides", "size"), [({"right": 1}, (112, 64)), ({"bottom": 4}, (112, 64)),
                                            ({"left": 12, "bottom": 16}, (112, 80))])
def test_outpaint_sizes_are_multiples_of_16(png: Callable[..., bytes], sides: dict[str, int], size: tuple[int, int]) -> None:
    image, mask = outpaint(png((100, 60)), **sides)
    assert image.size == mask.size == size


def test_outpaint_custom_multiple(png: Callable[..., bytes]) -> None:
    image, _ = outpaint(png((10, 10)), right=1, multiple=1)
    assert image.size == (11, 10)


@pytest.mark.parametrize("sides", [{}, {"left": -1}, {"right": True}, {"top": 1.5}])
def test_outpaint_rejects_bad_sides(png: Callable[..., bytes], sides: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        outpaint(png((10, 10)), **sides)


def test_paste_outside_mask_restores_kept_pixels(png: Callable[..., bytes]) -> None:
    original = png((32, 32), (255, 0, 0))
    edited = nbimages.Image(png((64, 64), (0, 0, 255)), prompt="blue", params={"quality": "low"})
    mask = mask_from_box((32, 32), (8, 8, 24, 24))
    result = paste_outside_mask(edited, original, mask)
    pixels = np.asarray(result.to_pil().convert("RGB"))
    assert result.size == (32, 32)
    assert (pixels[8:24, 8:24] == (0, 0, 255)).all()
    assert (pixels[:8] == (255, 0, 0)).all() and (pixels[24:] == (255, 0, 0)).all()
    assert result.prompt == "blue" and result.params == {"quality": "low", "pasted_outside_mask": True}


# -- accepted by the edit endpoint --------------------------------------------------------------
def test_masks_made_here_pass_local_validation(mock_client: Any, png: Callable[..., bytes]) -> None:
    import httpx

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"created": 1, "data": []})

    client = mock_client(handler)
    picture = png((64, 48))
    for mask in (mask_from_box(picture, (1, 1, 9, 9)), mask_from_array(np.ones((48, 64), bool)),
                 invert(mask_from_box(picture, (1, 1, 9, 9)))):
        assert client.edit("x", picture, mask=mask) == []
    image, mask = outpaint(picture, right=64)
    client.edit("x", image, mask=mask)
    assert len(seen) == 4


def test_box_mask_accepted_by_the_simulator(client: nbimages.Client, simulator: Any, png: Callable[..., bytes]) -> None:
    picture = png((256, 256), (30, 120, 200))
    (result,) = client.edit("paint a sun", picture, mask=mask_from_box(picture, (0, 0, 128, 128)), quality="low")
    assert result.format == "png" and result.prompt == "paint a sun"
    request = simulator.requests[-1]
    assert request.files["mask"][0].data == mask_from_box(picture, (0, 0, 128, 128)).data


def test_outpaint_accepted_by_the_simulator(client: nbimages.Client, png: Callable[..., bytes]) -> None:
    image, mask = outpaint(png((200, 120), (90, 160, 90)), right=100, bottom=40)
    (result,) = client.edit("extend the meadow", image, mask=mask, size="auto", quality="low")
    assert result.format == "png" and result.width and result.height


# -- a few pixels are a mask ---------------------------------------------------------------------
def test_a_mask_of_a_few_pixels_keeps_them_and_is_sent(mock_client: Any, png: Callable[..., bytes]) -> None:
    import httpx

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"created": 1, "data": []})

    picture = png((1024, 1024))
    painted = np.zeros((1024, 1024), bool)
    painted[10, 10] = painted[1023, 1023] = painted[512, 0] = True
    for mask, pixels in ((mask_from_array(painted), 3), (mask_from_box(picture, (5, 5, 6, 6)), 1),
                         (mask_from_array(painted * 0.001), 3)):  # faint paint is paint
        assert int((alpha(mask) == 0).sum()) == pixels
        assert mock_client(handler).edit("a star", picture, mask=mask) == []
    assert len(seen) == 3


def test_paste_outside_mask_keeps_an_edit_of_a_few_pixels(png: Callable[..., bytes]) -> None:
    original = png((1024, 1024), (255, 0, 0))
    edited = nbimages.Image(png((1024, 1024), (0, 0, 255)))
    painted = np.zeros((1024, 1024), bool)
    painted[100, 200:202] = True
    pixels = np.asarray(paste_outside_mask(edited, original, mask_from_array(painted)).to_pil().convert("RGB"))
    assert (pixels[painted] == (0, 0, 255)).all() and (pixels[~painted] == (255, 0, 0)).all()
