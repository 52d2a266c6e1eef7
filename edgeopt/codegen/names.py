"""Turn attacker-controlled model names into safe C identifiers and comment text."""
import hashlib
import re

C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while _Bool _Complex _Imaginary bool true false NULL
main errno assert
""".split())

MAX_IDENTIFIER = 40


class NamePool:
    """Hands out unique, valid C identifiers; same raw name -> different ids on each call."""

    def __init__(self, reserved=()):
        self.used = set(reserved)

    def unique(self, raw: str, fallback: str = "t") -> str:
        base = c_identifier(raw, fallback)
        name, counter = base, 1
        while name in self.used or name in C_KEYWORDS:
            name = f"{base}_{counter}"
            counter += 1
        self.used.add(name)
        return name


def c_identifier(raw: str, fallback: str = "t") -> str:
    text = re.sub(r"[^A-Za-z0-9_]", "_", str(raw))
    text = re.sub(r"_+", "_", text).strip("_")
    if not text:
        text = fallback
    if text[0].isdigit():
        text = f"{fallback}_{text}"
    if len(text) > MAX_IDENTIFIER:
        digest = hashlib.sha256(str(raw).encode("utf-8", "replace")).hexdigest()[:8]
        text = f"{text[:MAX_IDENTIFIER - 9]}_{digest}"
    return text


def c_comment(raw: str, limit: int = 60) -> str:
    """Text safe inside /* ... */: printable ASCII, no comment end, trigraph or line splice."""
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in str(raw))
    text = text.replace("*/", "*_/").replace("/*", "/_*").replace("??", "?_?").replace("\\", "/")
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
