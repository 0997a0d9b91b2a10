"""Rebuild ``wqy-microhei-gb2312.ttf``, the CJK font gongai ships (a maintenance tool; nothing imports it at run time).

Charts (matplotlib) and the analyst pages both need Chinese glyphs on machines that have no CJK font and no
internet (government networks are isolated), so a font is shipped in the package. A whole CJK font is 5–20 MB;
this keeps 文泉驿微米黑 (WenQuanYi Micro Hei, Apache-2.0, Debian ``fonts-wqy-microhei``) for every character of
GB 2312 (6,763 汉字, the ones names and forms use), ASCII, CJK and full-width punctuation, and every character of
the catalogue (``workflows/``): 1.2 MB, a TrueType file browsers accept as a web font too.

    apt-get install fonts-wqy-microhei && python -m engine.analytics.fonts.subset
"""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
HERE = Path(__file__).resolve().parent
TARGET = HERE / "wqy-microhei-gb2312.ttf"
FAMILY = "WenQuanYi Micro Hei GB2312"


def characters(repo: Path) -> str:
    """GB 2312's hanzi, ASCII, punctuation and symbols, and every character the catalogue uses."""
    chars = {chr(c) for c in range(0x20, 0x7F)} | {chr(c) for c in range(0x3000, 0x3040)}
    chars |= {chr(c) for c in range(0xFF01, 0xFF5F)} | set("·—–‘’“”…‰℃×÷●○■□▲△▼▽◆◇★☆→←↑↓√∞≤≥≠±§№▸")
    for b1 in range(0xB0, 0xF8):
        for b2 in range(0xA1, 0xFF):
            try:
                chars.add(bytes([b1, b2]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    for path in sorted((repo / "workflows").rglob("*.yaml")):
        chars |= {ch for ch in path.read_text(encoding="utf-8") if ord(ch) > 0x7F}
    return "".join(sorted(chars))


def main() -> int:
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    font = TTCollection(str(SOURCE)).fonts[0]  # the proportional face (the other is Mono)
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters(HERE.parents[2]))
    subsetter.subset(font)
    names = font["name"]
    for record in names.names:  # a modified font is named apart from the original (Apache-2.0 §4)
        if record.nameID in (1, 4, 16):
            record.string = FAMILY
        elif record.nameID == 6:
            record.string = FAMILY.replace(" ", "")
    font.save(str(TARGET))
    print(f"{TARGET}: {TARGET.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
