"""Colour names: parsing them out of prompts and naming colours found in pixels.

Pure Python (no Pillow import): the CSS table below is the CSS Color Module
Level 4 list plus a few everyday names people type in prompts.
"""

from __future__ import annotations

import functools

RGB = tuple[int, int, int]

# CSS named colours (CSS Color Module Level 4), as used by browsers.
CSS_COLORS: dict[str, RGB] = {
    "aliceblue": (240, 248, 255), "antiquewhite": (250, 235, 215), "aqua": (0, 255, 255),
    "aquamarine": (127, 255, 212), "azure": (240, 255, 255), "beige": (245, 245, 220),
    "bisque": (255, 228, 196), "black": (0, 0, 0), "blanchedalmond": (255, 235, 205),
    "blue": (0, 0, 255), "blueviolet": (138, 43, 226), "brown": (165, 42, 42),
    "burlywood": (222, 184, 135), "cadetblue": (95, 158, 160), "chartreuse": (127, 255, 0),
    "chocolate": (210, 105, 30), "coral": (255, 127, 80), "cornflowerblue": (100, 149, 237),
    "cornsilk": (255, 248, 220), "crimson": (220, 20, 60), "cyan": (0, 255, 255),
    "darkblue": (0, 0, 139), "darkcyan": (0, 139, 139), "darkgoldenrod": (184, 134, 11),
    "darkgray": (169, 169, 169), "darkgreen": (0, 100, 0), "darkgrey": (169, 169, 169),
    "darkkhaki": (189, 183, 107), "darkmagenta": (139, 0, 139), "darkolivegreen": (85, 107, 47),
    "darkorange": (255, 140, 0), "darkorchid": (153, 50, 204), "darkred": (139, 0, 0),
    "darksalmon": (233, 150, 122), "darkseagreen": (143, 188, 143), "darkslateblue": (72, 61, 139),
    "darkslategray": (47, 79, 79), "darkslategrey": (47, 79, 79), "darkturquoise": (0, 206, 209),
    "darkviolet": (148, 0, 211), "deeppink": (255, 20, 147), "deepskyblue": (0, 191, 255),
    "dimgray": (105, 105, 105), "dimgrey": (105, 105, 105), "dodgerblue": (30, 144, 255),
    "firebrick": (178, 34, 34), "floralwhite": (255, 250, 240), "forestgreen": (34, 139, 34),
    "fuchsia": (255, 0, 255), "gainsboro": (220, 220, 220), "ghostwhite": (248, 248, 255),
    "gold": (255, 215, 0), "goldenrod": (218, 165, 32), "gray": (128, 128, 128),
    "grey": (128, 128, 128), "green": (0, 128, 0), "greenyellow": (173, 255, 47),
    "honeydew": (240, 255, 240), "hotpink": (255, 105, 180), "indianred": (205, 92, 92),
    "indigo": (75, 0, 130), "ivory": (255, 255, 240), "khaki": (240, 230, 140),
    "lavender": (230, 230, 250), "lavenderblush": (255, 240, 245), "lawngreen": (124, 252, 0),
    "lemonchiffon": (255, 250, 205), "lightblue": (173, 216, 230), "lightcoral": (240, 128, 128),
    "lightcyan": (224, 255, 255), "lightgoldenrodyellow": (250, 250, 210),
    "lightgray": (211, 211, 211), "lightgreen": (144, 238, 144), "lightgrey": (211, 211, 211),
    "lightpink": (255, 182, 193), "lightsalmon": (255, 160, 122), "lightseagreen": (32, 178, 170),
    "lightskyblue": (135, 206, 250), "lightslategray": (119, 136, 153),
    "lightslategrey": (119, 136, 153), "lightsteelblue": (176, 196, 222),
    "lightyellow": (255, 255, 224), "lime": (0, 255, 0), "limegreen": (50, 205, 50),
    "linen": (250, 240, 230), "magenta": (255, 0, 255), "maroon": (128, 0, 0),
    "mediumaquamarine": (102, 205, 170), "mediumblue": (0, 0, 205), "mediumorchid": (186, 85, 211),
    "mediumpurple": (147, 112, 219), "mediumseagreen": (60, 179, 113),
    "mediumslateblue": (123, 104, 238), "mediumspringgreen": (0, 250, 154),
    "mediumturquoise": (72, 209, 204), "mediumvioletred": (199, 21, 133),
    "midnightblue": (25, 25, 112), "mintcream": (245, 255, 250), "mistyrose": (255, 228, 225),
    "moccasin": (255, 228, 181), "navajowhite": (255, 222, 173), "navy": (0, 0, 128),
    "oldlace": (253, 245, 230), "olive": (128, 128, 0), "olivedrab": (107, 142, 35),
    "orange": (255, 165, 0), "orangered": (255, 69, 0), "orchid": (218, 112, 214),
    "palegoldenrod": (238, 232, 170), "palegreen": (152, 251, 152),
    "paleturquoise": (175, 238, 238), "palevioletred": (219, 112, 147),
    "papayawhip": (255, 239, 213), "peachpuff": (255, 218, 185), "peru": (205, 133, 63),
    "pink": (255, 192, 203), "plum": (221, 160, 221), "powderblue": (176, 224, 230),
    "purple": (128, 0, 128), "rebeccapurple": (102, 51, 153), "red": (255, 0, 0),
    "rosybrown": (188, 143, 143), "royalblue": (65, 105, 225), "saddlebrown": (139, 69, 19),
    "salmon": (250, 128, 114), "sandybrown": (244, 164, 96), "seagreen": (46, 139, 87),
    "seashell": (255, 245, 238), "sienna": (160, 82, 45), "silver": (192, 192, 192),
    "skyblue": (135, 206, 235), "slateblue": (106, 90, 205), "slategray": (112, 128, 144),
    "slategrey": (112, 128, 144), "snow": (255, 250, 250), "springgreen": (0, 255, 127),
    "steelblue": (70, 130, 180), "tan": (210, 180, 140), "teal": (0, 128, 128),
    "thistle": (216, 191, 216), "tomato": (255, 99, 71), "turquoise": (64, 224, 208),
    "violet": (238, 130, 238), "wheat": (245, 222, 179), "white": (255, 255, 255),
    "whitesmoke": (245, 245, 245), "yellow": (255, 255, 0), "yellowgreen": (154, 205, 50),
}

# Everyday colour words that are not CSS names.
EXTRA_COLORS: dict[str, RGB] = {
    "amber": (255, 191, 0), "apricot": (251, 206, 177), "auburn": (165, 42, 42),
    "burgundy": (128, 0, 32), "charcoal": (54, 69, 79), "cobalt": (0, 71, 171),
    "copper": (184, 115, 51), "bronze": (205, 127, 50), "cream": (255, 253, 208),
    "emerald": (80, 200, 120), "golden": (255, 200, 40), "jade": (0, 168, 107),
    "lilac": (200, 162, 200), "mauve": (224, 176, 255), "mint": (152, 255, 152),
    "mustard": (225, 173, 1), "ochre": (204, 119, 34), "peach": (255, 203, 164),
    "rose": (255, 0, 127), "ruby": (224, 17, 95), "rust": (183, 65, 14),
    "sand": (194, 178, 128), "sapphire": (15, 82, 186), "scarlet": (255, 36, 0),
    "sepia": (112, 66, 20), "terracotta": (226, 114, 91), "vermilion": (227, 66, 52),
    "aubergine": (97, 64, 81), "lemon": (255, 244, 79), "cerulean": (0, 123, 167),
    "magenta": (255, 0, 255), "pastel": (255, 209, 220),
}

ALL_COLORS: dict[str, RGB] = {**CSS_COLORS, **EXTRA_COLORS}

# Modifiers that combine with a following colour word: "light blue", "dark green".
MODIFIERS = ("light", "dark", "pale", "deep", "bright", "hot", "sky", "navy", "forest",
             "sea", "royal", "midnight", "lime", "olive", "steel", "slate", "medium")

# A short list of plain names for describing pixels (vision). Chosen so that the
# nearest-name answer reads naturally: "red", not "orangered".
BASIC_COLORS: dict[str, RGB] = {
    "black": (0, 0, 0), "dark gray": (64, 64, 64), "gray": (128, 128, 128),
    "light gray": (192, 192, 192), "white": (255, 255, 255),
    "red": (220, 20, 20), "dark red": (128, 0, 0), "pink": (255, 170, 190),
    "hot pink": (255, 80, 170), "orange": (255, 140, 0), "brown": (140, 80, 30),
    "tan": (210, 180, 140), "beige": (240, 230, 200), "yellow": (250, 230, 20),
    "gold": (230, 180, 20), "olive": (128, 128, 0), "lime": (130, 240, 20),
    "green": (20, 160, 40), "dark green": (0, 90, 20), "teal": (0, 128, 128),
    "turquoise": (60, 210, 200), "cyan": (0, 240, 240), "sky blue": (130, 200, 240),
    "light blue": (173, 216, 230), "blue": (20, 60, 230), "navy": (0, 0, 120),
    "purple": (120, 30, 150), "violet": (180, 110, 230), "magenta": (240, 0, 240),
    "lavender": (220, 210, 245),
}
# More points for names whose colours spread wide (grass and leaves are "green" too).
_EXTRA_ANCHORS: tuple[tuple[str, RGB], ...] = (
    ("green", (100, 170, 60)), ("green", (60, 140, 60)), ("green", (90, 150, 60)),
    ("dark green", (30, 100, 50)), ("blue", (70, 130, 205)), ("blue", (50, 100, 200)),
    ("sky blue", (100, 165, 225)),
)
_ANCHORS: tuple[tuple[str, RGB], ...] = (*BASIC_COLORS.items(), *_EXTRA_ANCHORS)
_ACHROMATIC = {"black", "dark gray", "gray", "light gray", "white"}

# Pure primaries are named by their obvious names, whatever the distance table says.
_EXACT: dict[RGB, str] = {
    (255, 0, 0): "red", (0, 0, 255): "blue", (0, 255, 0): "lime", (0, 128, 0): "green",
    (255, 255, 0): "yellow", (0, 255, 255): "cyan", (255, 0, 255): "magenta",
    (255, 255, 255): "white", (0, 0, 0): "black", (128, 128, 128): "gray",
}


def lookup(name: str) -> RGB | None:
    """The RGB of a colour name (``"light blue"``, ``"lightblue"``, ``"crimson"``)."""
    key = name.lower().replace(" ", "").replace("-", "")
    return ALL_COLORS.get(key)


def _distance(a: RGB, b: RGB) -> float:
    # "redmean" weighted Euclidean distance: cheap and close to perceptual.
    rmean = (a[0] + b[0]) / 2
    dr, dg, db = a[0] - b[0], a[1] - b[1], a[2] - b[2]
    return (2 + rmean / 256) * dr * dr + 4 * dg * dg + (2 + (255 - rmean) / 256) * db * db


@functools.lru_cache(maxsize=8192)
def nearest_name(rgb: RGB) -> str:
    """The plain name (from :data:`BASIC_COLORS`) closest to ``rgb``."""
    rgb = (int(rgb[0]), int(rgb[1]), int(rgb[2]))
    if rgb in _EXACT:
        return _EXACT[rgb]
    # A clearly coloured pixel never gets a gray's name, nor a near-gray a colour's,
    # however close the distance says they are.
    chroma = max(rgb) - min(rgb)
    anchors = [(n, c) for n, c in _ANCHORS
               if not (chroma > 48 and n in _ACHROMATIC) and not (chroma < 20 and n not in _ACHROMATIC)]
    return min(anchors, key=lambda nc: _distance(rgb, nc[1]))[0]


def shade(rgb: RGB, factor: float) -> RGB:
    """Darken (factor < 1) or lighten (factor > 1) a colour."""
    if factor <= 1:
        return (int(rgb[0] * factor), int(rgb[1] * factor), int(rgb[2] * factor))
    f = factor - 1
    return tuple(int(c + (255 - c) * min(f, 1.0)) for c in rgb)  # type: ignore[return-value]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (int(a[0] + (b[0] - a[0]) * t), int(a[1] + (b[1] - a[1]) * t),
            int(a[2] + (b[2] - a[2]) * t))
