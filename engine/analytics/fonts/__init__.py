"""The CJK font of the charts and the analyst pages: shipped with the package, checked by real glyph coverage.

gongai ships ``wqy-microhei-gb2312.ttf`` (文泉驿微米黑 kept for GB 2312, ASCII, punctuation and every character
of the catalogue; Apache-2.0, see ``LICENSE-Apache-2.0.txt`` and ``subset.py``), so a fresh machine — no CJK
font, no internet — draws Chinese labels. It is a TrueType file: matplotlib reads it, and browsers accept it as
a web font (``FONT_FILE``, media type ``font/ttf``), so the pages serve the same file.

Why "real" coverage: matplotlib (3.10+) bundles *Last Resort*, a fallback font that maps every code point to a
placeholder box. Asked "has this font a glyph for 审?", it says yes. A font is taken as covering a text only
when every character has a glyph with an outline, the glyphs of different characters are different, and the
font is not a last-resort font.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

__all__ = ["FONT_FILE", "FONT_FAMILY", "FONT_MEDIA_TYPE", "PROBE", "covers", "cjk_font"]

log = logging.getLogger("engine.analytics.charts")
FONT_FILE = Path(__file__).resolve().parent / "wqy-microhei-gb2312.ttf"
FONT_FAMILY = "WenQuanYi Micro Hei GB2312"
FONT_MEDIA_TYPE = "font/ttf"
#: Characters a CJK font must really draw (distinct strokes, so a one-box-for-all fallback fails).
PROBE = "审批阶段验收"

#: Installed CJK fonts tried after the shipped one (for a character outside its subset).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
                "WenQuanYi Zen Hei", "Droid Sans Fallback", "Microsoft YaHei", "SimHei", "PingFang SC",
                "Hiragino Sans GB", "AR PL UMing CN", "AR PL UKai CN", "Noto Serif CJK SC")


def covers(path: str | Path, text: str = PROBE) -> bool:
    """True when the font file draws every character of ``text`` with a real glyph of its own.

    A glyph index of 0 is .notdef; a glyph without outline points is blank; one glyph shared by distinct
    characters is a placeholder (Last Resort draws a whole Unicode block with one box).
    """
    try:
        from matplotlib import ft2font

        no_hinting = ft2font.LoadFlags.NO_HINTING if hasattr(ft2font, "LoadFlags") else ft2font.LOAD_NO_HINTING
        font = ft2font.FT2Font(str(path))
        if "last resort" in (font.family_name or "").lower():
            return False
        indices = []
        for ch in text:
            index = font.get_char_index(ord(ch))
            if not index:
                return False
            font.load_char(ord(ch), flags=no_hinting)
            vertices, _ = font.get_path()
            if len(vertices) == 0 and not ch.isspace():
                return False
            indices.append(index)
        return len(set(indices)) == len(set(text))
    except Exception:  # noqa: BLE001 - an unreadable font file is just not a candidate
        return False


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of the CJK font charts use: the shipped one, else an installed font that really covers
    Chinese (``covers``), else None (then labels fall back to English and a note is logged once)."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    if FONT_FILE.exists() and covers(FONT_FILE):
        if FONT_FILE.as_posix() not in {Path(f.fname).as_posix() for f in manager.ttflist}:
            manager.addfont(str(FONT_FILE))
        return FONT_FAMILY
    for family in installed_cjk_families():
        return family
    log.warning("no CJK font (the shipped %s is missing, and no installed font draws Chinese): charts use English "
                "labels and ids", FONT_FILE.name)
    return None


@lru_cache(maxsize=1)
def installed_cjk_families(limit: int = 400) -> tuple[str, ...]:
    """Installed font families that really draw Chinese, the well-known ones first (fontconfig's and the font
    directories' files are added to matplotlib's list: its cache may predate a font installed later)."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    known = {f.fname for f in manager.ttflist}
    try:
        system = font_manager.findSystemFonts()
    except Exception:  # noqa: BLE001 - no font directories, no fontconfig: nothing to add
        system = []
    for path in system:
        if path not in known and Path(path).suffix.lower() in (".ttf", ".otf", ".ttc"):
            try:
                manager.addfont(path)
            except Exception:  # noqa: BLE001 - a font matplotlib cannot read is skipped
                continue
    by_name = {f.name: f.fname for f in manager.ttflist}
    found = [family for family in CJK_FAMILIES if family in by_name and covers(by_name[family])]
    for entry in manager.ttflist[:limit]:
        if entry.name not in found and entry.name != FONT_FAMILY and covers(entry.fname):
            found.append(entry.name)
    return tuple(found)
