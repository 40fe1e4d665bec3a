"""Reading a prompt into a small scene description (pure Python, no Pillow).

``parse_prompt("a red circle and a blue square over green mountains")`` gives three
elements (circle/red, square/blue, mountain/green); colour words not attached to an
object become the background palette; words like "night" or "sunset" set a mood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .colors import MODIFIERS, RGB, lookup

# canonical kind -> words that ask for it (singular; plurals are handled below)
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "ball", "dot", "orb", "sphere", "disc", "disk", "bubble", "planet"),
    "ring": ("ring", "donut", "doughnut", "hoop"),
    "square": ("square", "cube", "box", "block", "tile"),
    "rectangle": ("rectangle", "bar", "door", "window", "card", "book"),
    "triangle": ("triangle", "pyramid"),
    "star": ("star",),
    "heart": ("heart",),
    "diamond": ("diamond", "gem", "crystal", "jewel", "rhombus"),
    "sun": ("sun", "sunshine"),
    "moon": ("moon", "crescent"),
    "cloud": ("cloud",),
    "bird": ("bird", "seagull", "gull", "crow", "eagle", "dove", "parrot", "owl", "duck",
             "swan", "robin", "sparrow", "hummingbird", "flamingo", "pelican", "hawk"),
    "balloon": ("balloon", "airship", "blimp"),
    "rainbow": ("rainbow",),
    "tree": ("tree", "pine", "oak", "palm", "fir", "forest", "woods"),
    "mountain": ("mountain", "peak", "alps", "volcano", "range"),
    "hill": ("hill", "meadow", "field", "grass", "ground", "lawn", "valley", "desert",
             "beach", "dune"),
    "water": ("wave", "sea", "ocean", "lake", "river", "water", "pond", "bay", "harbor", "harbour", "port", "marina"),
    "house": ("house", "cabin", "home", "cottage", "hut", "barn", "castle"),
    "lighthouse": ("lighthouse", "beacon"),
    "car": ("car", "truck", "van", "taxi", "bus", "jeep"),
    "building": ("building", "city", "skyscraper", "tower", "skyline", "town"),
    "flower": ("flower", "tulip", "daisy", "blossom", "sunflower", "bouquet", "plant"),
    "boat": ("boat", "canoe", "kayak", "ship", "sailboat", "yacht", "raft"),
    "fish": ("fish", "whale", "dolphin", "shark"),
    "cat": ("cat", "kitten", "kitty", "fox", "panda", "dog", "puppy", "bear", "animal",
            "horse", "pony", "cow", "rabbit", "bunny", "sheep", "lamb", "deer", "lion",
            "tiger", "wolf", "mouse", "pig", "monkey", "koala", "raccoon", "squirrel"),
    "person": ("person", "man", "woman", "child", "girl", "boy", "chef", "people",
               "astronaut", "robot", "figure", "kid", "friend", "scientist", "wizard"),
}
WORD_TO_KIND: dict[str, str] = {w: k for k, ws in SHAPE_WORDS.items() for w in ws}

# Words that make several of something without being plural.
GROUP_WORDS = {"forest": 5, "woods": 5, "city": 4, "skyline": 5, "town": 3, "people": 3,
               "bouquet": 3, "range": 1}

DEFAULT_COLORS: dict[str, RGB] = {
    "sun": (255, 200, 40), "moon": (250, 245, 205), "cloud": (250, 250, 252),
    "bird": (40, 40, 50), "tree": (34, 139, 34), "mountain": (105, 115, 135),
    "hill": (110, 170, 70), "water": (40, 110, 190), "house": (178, 34, 34),
    "building": (90, 100, 120), "flower": (255, 105, 180), "boat": (160, 82, 45),
    "fish": (255, 140, 0), "cat": (230, 130, 40), "person": (60, 90, 170),
    "rainbow": (255, 0, 0), "star": (255, 215, 0), "balloon": (230, 60, 50),
    "lighthouse": (205, 40, 45), "car": (200, 30, 40),
}

# Things whose name says their colour better than their kind's default does.
WORD_COLORS: dict[str, RGB] = {
    "sunflower": (250, 200, 20), "daisy": (250, 250, 245), "tulip": (230, 40, 60),
    "crow": (25, 25, 30), "dove": (240, 240, 240), "seagull": (235, 235, 240), "gull": (235, 235, 240),
    "fox": (215, 95, 25), "panda": (245, 245, 245), "whale": (70, 90, 130), "shark": (120, 130, 145),
    "pine": (20, 100, 50), "fir": (20, 100, 50), "palm": (60, 150, 60), "volcano": (90, 60, 55),
    "parrot": (225, 45, 40), "owl": (140, 100, 60), "duck": (245, 200, 40), "swan": (245, 245, 245),
    "robin": (200, 90, 40), "flamingo": (245, 130, 170), "horse": (140, 85, 45),
    "pony": (160, 110, 70), "cow": (240, 240, 235), "rabbit": (200, 185, 170),
    "bunny": (235, 230, 225), "sheep": (245, 245, 240), "lamb": (245, 245, 240),
    "deer": (170, 110, 60), "lion": (215, 160, 60), "tiger": (235, 125, 30),
    "wolf": (130, 130, 140), "mouse": (160, 160, 165), "pig": (245, 170, 180),
    "monkey": (130, 85, 50), "koala": (150, 150, 155), "taxi": (250, 200, 20),
    "bus": (245, 180, 20), "dog": (165, 110, 60), "puppy": (200, 150, 90),
    "bear": (110, 70, 40),
}

# Kinds whose different words are different things: "a cat and a dog" is two animals
# (while "a forest ... the trees" is one forest).
DISTINCT_KINDS = ("cat", "bird", "person", "car", "boat", "fish")

# Nouns for the picture's background: a colour right before one colours the sky.
BACKGROUND_WORDS = ("sky", "skies", "background", "backdrop")

# Size words in front of a thing ("a small boat"): a factor on its drawn size.
SIZE_WORDS: dict[str, float] = {"small": 0.6, "little": 0.6, "tiny": 0.45, "mini": 0.5,
                                "big": 1.25, "large": 1.25, "huge": 1.4, "giant": 1.4}

MOOD_WORDS: dict[str, str] = {
    "night": "night", "midnight": "night", "nighttime": "night", "evening": "dusk",
    "dusk": "dusk", "sunset": "sunset", "sunrise": "sunset", "dawn": "dusk",
    "space": "space", "galaxy": "space", "cosmos": "space", "universe": "space",
    "underwater": "underwater", "snow": "snow", "snowy": "snow", "winter": "snow",
    "foggy": "fog", "fog": "fog", "mist": "fog", "misty": "fog", "desert": "desert",
    "beach": "desert", "autumn": "autumn", "fall": "autumn", "stormy": "storm",
    "storm": "storm", "rain": "storm", "rainy": "storm",
}

STYLE_WORDS: dict[str, str] = {
    "vivid": "vivid", "saturated": "vivid", "colorful": "vivid", "colourful": "vivid",
    "brighter": "brighter", "lighter": "brighter", "darker": "darker", "moody": "darker",
    "grayscale": "grayscale", "greyscale": "grayscale", "monochrome": "grayscale",
    "blurry": "blur", "blur": "blur", "dreamy": "blur", "sharper": "sharpen",
    "sepia": "sepia", "vintage": "sepia", "warmer": "warmer", "cooler": "cooler",
}

NUMBER_WORDS = {"one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                "six": 6, "seven": 7, "several": 3, "many": 5, "some": 3, "few": 3,
                "pair": 2, "couple": 2}

_TOKEN = re.compile(r"[a-z]+|\d+")


@dataclass
class Element:
    kind: str
    color: RGB | None
    count: int = 1
    word: str = ""
    scale: float = 1.0


@dataclass
class Scene:
    elements: list[Element] = field(default_factory=list)
    palette: list[RGB] = field(default_factory=list)
    mood: str | None = None
    styles: list[str] = field(default_factory=list)
    sky: RGB | None = None


def _singular(word: str) -> str | None:
    if word in WORD_TO_KIND:
        return word
    for suffix, repl in (("ies", "y"), ("ves", "f"), ("es", ""), ("s", "")):
        if word.endswith(suffix) and word[: -len(suffix)] + repl in WORD_TO_KIND:
            return word[: -len(suffix)] + repl
    return None


def parse_prompt(prompt: str) -> Scene:
    tokens = _TOKEN.findall(prompt.lower())
    scene = Scene()
    colors: list[tuple[int, RGB]] = []  # (token index, colour)
    used: set[int] = set()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in MODIFIERS and nxt and lookup(tok + nxt):
            colors.append((i + 1, lookup(tok + nxt)))  # type: ignore[arg-type]
            i += 2
            continue
        if tok in ("light", "dark", "pale", "deep", "bright") and nxt and lookup(nxt):
            base = lookup(nxt)
            assert base is not None
            if tok in ("light", "pale", "bright"):
                r, g, b = (int(c + (255 - c) * 0.45) for c in base)
            else:
                r, g, b = (int(c * 0.55) for c in base)
            colors.append((i + 1, (r, g, b)))
            i += 2
            continue
        named = lookup(tok)
        # "rose", "snow", "sand" are colours only when followed by nothing drawable
        if named is not None and tok not in MOOD_WORDS and not _singular(tok):
            colors.append((i, named))
        i += 1

    for idx, tok in enumerate(tokens):
        if tok in MOOD_WORDS and scene.mood is None:
            scene.mood = MOOD_WORDS[tok]
        if tok in STYLE_WORDS and STYLE_WORDS[tok] not in scene.styles:
            scene.styles.append(STYLE_WORDS[tok])
        if tok in BACKGROUND_WORDS:
            match = [c for (ci, c) in colors if ci == idx - 1 and ci not in used]
            if match and scene.sky is None:
                scene.sky = match[0]
                used.add(idx - 1)
            continue
        single = _singular(tok)
        if single is None:
            continue
        kind = WORD_TO_KIND[single]
        plural = tok != single
        number: int | None = None
        color: RGB | None = None
        scale = 1.0
        for back in range(1, 5):
            j = idx - back
            if j < 0 or j in used:
                break
            word = tokens[j]
            if word in BACKGROUND_WORDS:
                break
            if word in SIZE_WORDS and scale == 1.0:
                scale = SIZE_WORDS[word]
            match = [c for (ci, c) in colors if ci == j]
            if match and color is None:
                color = match[0]
                used.add(j)
                continue
            if word in NUMBER_WORDS and number is None:
                number = NUMBER_WORDS[word]
            elif word.isdigit() and number is None:
                number = max(1, min(int(word), 9))
            if _singular(word):
                break
        count = number if (number and number > 1) else (3 if plural else 1)
        if tok in GROUP_WORDS:
            count = GROUP_WORDS[tok]
        # merge repeated mentions of the same thing ("a tree ... the tree")
        same = [e for e in scene.elements if e.kind == kind and e.color == color and (
            kind not in DISTINCT_KINDS or _singular(e.word) == single)]
        if same:
            continue
        scene.elements.append(Element(kind, color or WORD_COLORS.get(single), min(count, 9), tok,
                                      scale))
    scene.palette = [c for (ci, c) in colors if ci not in used]
    return scene
