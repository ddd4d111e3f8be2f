"""English words written in Hangul (디버거 = debugger, 패키지 = package): found by their sound.

Korean developers write most English technical terms as loanwords, and a glossary can never
list them all. A loanword keeps the English word's consonants and where its vowels fall, so
both are reduced to one **sound key**: consonants by place of articulation (ㅂ/ㅍ = b, p, f,
v; ㄹ = l, r; ...), each run of vowels one `V`, Korean's inserted ㅡ and a final vowel
dropped, as is English's silent final `e` and an `r` after a vowel (디버거 and debugger are
both `TVPVK`). English spelling is irregular, so an English word has a few keys (`c` is
`K` or `S`, `g` is `K` or `J`...).

The English side comes from the passages the question already retrieved: a Korean word is
rendered in English only when a passage near it uses a word that sounds the same, so nothing
but the documents' own vocabulary is ever put in a question. Keys need three consonants,
enough that ordinary Korean words rarely sound like an English word by chance.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from itertools import product

# Hangul syllables: (initial * 21 + medial) * 28 + final, from U+AC00.
_FIRST, _LAST = 0xAC00, 0xD7A3
_INITIALS = ["K", "K", "N", "T", "T", "R", "M", "P", "P", "S", "S", "", "J", "J", "J", "K", "T", "P", ""]
# Finals as a loanword uses them: ㅅ, ㅈ, ㅊ, ㅌ, ㅎ close a syllable as a `t` (소켓 = socket), ㅇ as `ng`.
_FINALS = [
    "", "K", "K", "KS", "N", "NJ", "N", "T", "R", "RK", "RM", "RP", "RS", "RT", "RP", "R",
    "M", "P", "PS", "T", "T", "N", "T", "T", "K", "T", "P", "T",
]  # fmt: skip
_EU = 18  # ㅡ, the vowel Korean inserts between English consonants (스크립트 = script)
# English spellings of one sound, longest first; each maps to its possible keys.
_SPELLINGS: list[tuple[str, tuple[str, ...]]] = [
    ("tion", ("SVN",)),
    ("sion", ("SVN", "JVN")),
    ("tch", ("J",)),
    ("sch", ("SK", "S")),
    ("ch", ("J", "K", "S")),
    ("ck", ("K",)),
    ("ph", ("P",)),
    ("sh", ("S",)),
    ("th", ("T", "S")),
    ("gh", ("",)),
    ("ng", ("N", "NK")),
    ("qu", ("KV",)),
    ("x", ("KS",)),
]
_LETTERS = {
    "b": ("P",), "p": ("P",), "f": ("P",), "v": ("P",), "d": ("T",), "t": ("T",), "k": ("K",), "q": ("K",),
    "j": ("J",), "z": ("J",), "s": ("S", "J"), "l": ("R",), "r": ("R",), "m": ("M",), "n": ("N",), "h": ("",),
}  # fmt: skip
_VOWELS = set("aeiouyw")
_SOFTENING = set("eiy")
_HANGUL_RUN = re.compile("[\uac00-\ud7a3]+")
_ENGLISH_WORD = re.compile(r"[A-Za-z]{5,}")
# Loanwords are nouns' base forms: an inflected English word matching a Korean word is chance.
_INFLECTED = re.compile(r"(ing|ed)$")
MIN_CONSONANTS = 3
# What may follow a loanword inside a run of syllables: a noun's particles, or 하다's forms
# (테스트하는, 컴파일했는데). A run that goes on otherwise is a Korean word that merely sounds alike.
# fmt: off
PARTICLES = frozenset({
    "은", "는", "이", "가", "을", "를", "의", "에", "에서", "에는", "에도", "으로", "로",
    "와", "과", "도", "만", "이나", "나", "랑", "이랑", "처럼", "보다", "까지", "부터", "마다",
    "하다", "하는", "하고", "하려면", "하면", "할", "한", "해", "했는데", "했더니", "하나요", "해서",
    "된", "되는", "되나요", "이라는", "라는", "이란", "란", "인가요",
})
# fmt: on
# Combinations of ambiguous spellings tried per English word at most: long words stay cheap.
_MAX_KEYS = 64


def _tidy(symbols: str) -> str:
    """Runs of one symbol as one, and no vowel at the end (Korean adds one, English drops one)."""
    out: list[str] = []
    for symbol in symbols:
        if not out or out[-1] != symbol:
            out.append(symbol)
    return "".join(out).rstrip("V")


def _enough(key: str) -> bool:
    return sum(1 for symbol in key if symbol != "V") >= MIN_CONSONANTS


def hangul_key(word: str) -> str:
    """The sound key of a word written in Hangul syllables ("" for anything else)."""
    symbols: list[str] = []
    for char in word:
        code = ord(char) - _FIRST
        if not 0 <= code <= _LAST - _FIRST:
            return ""
        initial, rest = divmod(code, 21 * 28)
        medial, final = divmod(rest, 28)
        symbols.append(_INITIALS[initial])
        if medial != _EU:
            symbols.append("V")
        symbols.append(_FINALS[final])
    return _tidy("".join(symbols))


def english_keys(word: str) -> set[str]:
    """The sound keys an English word may have once written in Hangul."""
    text = word.lower()
    silent_e = len(text) > 3 and text.endswith("e") and text[-2] not in _VOWELS
    if silent_e:
        text = text[:-1]  # silent final e (source, package, module), still softening a c or g before it
    parts: list[tuple[str, ...]] = []
    i = 0
    while i < len(text):
        char = text[i]
        spelled = next(((s, keys) for s, keys in _SPELLINGS if text.startswith(s, i)), None)
        if spelled is not None:
            parts.append(spelled[1])
            i += len(spelled[0])
            continue
        after = text[i + 1] if i + 1 < len(text) else ("e" if silent_e else "")
        before = text[i - 1] if i else ""
        if char in _VOWELS:
            parts.append(("V",))
        elif char == "c":
            parts.append(("S",) if after in _SOFTENING else ("K",))
        elif char == "g":
            parts.append(("J", "K") if after in _SOFTENING or not after else ("K",))
        elif char == "r" and before in _VOWELS and after not in _VOWELS:
            parts.append(("",))  # computer -> 컴퓨터, source -> 소스
        else:
            parts.append(_LETTERS.get(char, ("",)))
        i += 1
    keys: set[str] = set()
    for combination in product(*parts):
        keys.add(_tidy("".join(combination)))
        if len(keys) >= _MAX_KEYS:
            break
    return {key for key in keys if _enough(key)}


def vocabulary(texts: Iterable[str]) -> dict[str, str]:
    """Sound key -> the English word of these texts that has it (the most frequent when several do)."""
    counts = Counter(
        word.lower() for text in texts for word in _ENGLISH_WORD.findall(text) if not _INFLECTED.search(word.lower())
    )
    by_key: dict[str, str] = {}
    for word, _ in counts.most_common():
        for key in english_keys(word):
            by_key.setdefault(key, word)
    return by_key


def render(question: str, words: dict[str, str]) -> str | None:
    """The question with its Hangul loanwords of `words` in English (a particle after one stays),
    or None when it has none. The longest run of syllables that sounds like a word wins."""
    changed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal changed
        run = match.group(0)
        for end in range(len(run), 1, -1):  # two syllables at least: one is too often a native word
            key = hangul_key(run[:end])
            if not (_enough(key) and key in words and (end == len(run) or run[end:] in PARTICLES)):
                continue
            # A particle that is a bare vowel (파이썬에도) leaves the key as it is: keep it a particle.
            while end > 2 and hangul_key(run[: end - 1]) == key and run[end - 1 :] in PARTICLES:
                end -= 1
            changed = True
            return f" {words[key]} {run[end:]}"
        return run

    rendered = _HANGUL_RUN.sub(replace, question)
    return " ".join(rendered.split()) if changed else None
