"""Turn attacker-controlled names (model tensors and nodes, file names, config values) into
C identifiers that cannot collide, and into safe comment text. This module owns the
reserved sets: nothing else decides what a generated identifier may not be."""
import hashlib
import re

# C99/C11 keywords, C++ keywords (generated headers are included from C++), and macros of
# <stdbool.h>/<iso646.h> that read as words.
C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic
_Generic _Noreturn _Static_assert _Thread_local bool true false
alignas alignof and and_eq asm bitand bitor catch char16_t char32_t char8_t class compl
concept consteval constexpr constinit const_cast co_await co_return co_yield decltype delete
dynamic_cast explicit export friend mutable namespace new noexcept not not_eq nullptr
operator or or_eq private protected public reinterpret_cast requires static_assert
static_cast template this thread_local throw try typeid typename using virtual wchar_t xor
xor_eq
""".split())

# Identifiers of the C standard library headers the generated files or their users include
# (<math.h>, <stdint.h>, <stddef.h>, <string.h>, <stdlib.h>, <stdio.h>, <limits.h>,
# <float.h>, <assert.h>, <errno.h>, <stdarg.h>, <setjmp.h>, <signal.h>, <time.h>,
# <ctype.h>), plus what Arduino.h defines as object-like macros or common globals.
STANDARD_IDENTIFIERS = frozenset("""
NULL EOF BUFSIZ FILENAME_MAX FOPEN_MAX L_tmpnam SEEK_CUR SEEK_END SEEK_SET TMP_MAX stdin
stdout stderr FILE fpos_t size_t ptrdiff_t wchar_t wint_t max_align_t offsetof errno
assert NDEBUG static_assert va_list va_start va_arg va_end va_copy jmp_buf setjmp longjmp
sig_atomic_t signal raise clock_t time_t CLOCKS_PER_SEC tm clock time difftime mktime
asctime ctime gmtime localtime strftime EXIT_SUCCESS EXIT_FAILURE RAND_MAX MB_CUR_MAX
div_t ldiv_t lldiv_t abort atexit exit _Exit getenv system malloc calloc realloc free
atof atoi atol atoll strtod strtof strtold strtol strtoll strtoul strtoull rand srand
bsearch qsort abs labs llabs div ldiv lldiv mblen mbtowc wctomb mbstowcs wcstombs
memcpy memmove memset memcmp memchr strcpy strncpy strcat strncat strcmp strncmp strcoll
strxfrm strchr strrchr strspn strcspn strpbrk strstr strtok strlen strerror printf fprintf
sprintf snprintf vprintf vfprintf vsprintf vsnprintf scanf fscanf sscanf puts fputs gets
fgets putchar fputc putc getchar fgetc getc ungetc fopen fclose freopen fflush fread
fwrite fseek ftell rewind fgetpos fsetpos feof ferror clearerr perror remove rename
tmpfile tmpnam setbuf setvbuf
CHAR_BIT CHAR_MAX CHAR_MIN SCHAR_MAX SCHAR_MIN UCHAR_MAX SHRT_MAX SHRT_MIN USHRT_MAX INT_MAX
INT_MIN UINT_MAX LONG_MAX LONG_MIN ULONG_MAX LLONG_MAX LLONG_MIN ULLONG_MAX MB_LEN_MAX
SIZE_MAX PTRDIFF_MAX PTRDIFF_MIN SIG_ATOMIC_MAX SIG_ATOMIC_MIN WCHAR_MAX WCHAR_MIN
WINT_MAX WINT_MIN INTMAX_MAX INTMAX_MIN UINTMAX_MAX INTPTR_MAX INTPTR_MIN UINTPTR_MAX
intmax_t uintmax_t intptr_t uintptr_t
INFINITY NAN HUGE_VAL HUGE_VALF HUGE_VALL FP_INFINITE FP_NAN FP_NORMAL FP_SUBNORMAL FP_ZERO
FP_FAST_FMA FP_FAST_FMAF FP_FAST_FMAL FP_ILOGB0 FP_ILOGBNAN MATH_ERRNO MATH_ERREXCEPT
math_errhandling float_t double_t fpclassify isfinite isinf isnan isnormal signbit
isgreater isgreaterequal isless islessequal islessgreater isunordered
DECIMAL_DIG
isalnum isalpha isblank iscntrl isdigit isgraph islower isprint ispunct isspace isupper
isxdigit tolower toupper
HIGH LOW INPUT OUTPUT INPUT_PULLUP INPUT_PULLDOWN LED_BUILTIN PI HALF_PI TWO_PI DEG_TO_RAD
RAD_TO_DEG EULER SERIAL DISPLAY LSBFIRST MSBFIRST CHANGE FALLING RISING DEC HEX OCT BIN
DEFAULT EXTERNAL INTERNAL F_CPU Serial Serial1 Serial2 setup loop main boolean byte word
String delay millis micros
""".split()) | frozenset(
    # every <math.h> function in its double, float and long double forms
    name + suffix
    for name in """acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2
    expm1 frexp ilogb ldexp log log10 log1p log2 logb modf scalbn scalbln cbrt fabs hypot pow
    sqrt erf erfc lgamma tgamma ceil floor nearbyint rint lrint llrint round lround llround
    trunc fmod remainder remquo copysign nan nextafter nexttoward fdim fmax fmin fma""".split()
    for suffix in ("", "f", "l"))

# Name classes the C standard reserves for the implementation and its future library
# directions (C99 7.1.3, 7.26), and edgeopt's runtime namespace.
RESERVED_PATTERNS = tuple(re.compile(p) for p in (
    r"^_", r"__",  # the implementation's (C++ reserves any double underscore)
    r"^[eE][oO]_", r"^[eE][oO]$",  # the edgeopt runtime: eo_*, EO_*
    r"^E[0-9A-Z]",  # <errno.h>
    r"^(PRI|SCN)[a-zX]",  # <inttypes.h>
    r"^(LC_|SIG_?)[A-Z]",  # <locale.h>, <signal.h>
    r"^(FLT|DBL|LDBL)_",  # <float.h>
    r"^M_[A-Z0-9_]+$",  # math constants of POSIX and newlib (M_PI, ...)
    r"^u?int(_least|_fast)?[0-9]+_t$", r"^U?INT\w*_(MAX|MIN|C)$",  # <stdint.h>
))

MAX_IDENTIFIER = 40


def is_reserved(name: str, namespaces=()) -> bool:
    """True when `name` is a keyword, a standard or runtime identifier, or starts with one of
    the artifact's own namespaces (e.g. "net_" and "NET_")."""
    return (name in C_KEYWORDS or name in STANDARD_IDENTIFIERS
            or any(p.search(name) for p in RESERVED_PATTERNS)
            or any(name.startswith(ns) for ns in namespaces))


def artifact_namespaces(prefix: str) -> tuple:
    """The names an artifact's own symbols and macros start with."""
    return (f"{prefix}_", f"{prefix.upper()}_")


class NamePool:
    """Hands out unique, valid C identifiers that are never reserved; the same raw name gives
    different ids on each call. `reserved`: exact names already taken (generated symbols);
    `namespaces`: prefixes that only generated symbols may use."""

    def __init__(self, reserved=(), namespaces=()):
        self.used = set(reserved)
        self.namespaces = tuple(namespaces)

    def unique(self, raw: str, fallback: str = "t") -> str:
        base = c_identifier(raw, fallback)
        if is_reserved(base, self.namespaces):
            base = c_identifier(f"v_{base}", fallback)
        return self._claim(base)

    def symbol(self, base: str) -> str:
        """A generated symbol in the artifact's namespace (base already starts with it)."""
        return self._claim(base)

    def _claim(self, base: str) -> str:
        name, counter = base, 1
        while name in self.used:
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


def check_prefix(name, what: str = "--name") -> str:
    """The C prefix of an artifact: a letter, then up to 31 letters, digits or underscores;
    not a keyword, a standard identifier or the runtime's namespace."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", name):
        raise ValueError(f"{what} {name!r} is not usable as a C symbol prefix: use a letter followed "
                         "by up to 31 letters, digits or underscores")
    if is_reserved(name) or name.endswith("_"):
        raise ValueError(f"{what} {name!r} is reserved (a C keyword, a standard library name or "
                         "edgeopt's eo_/EO_ namespace) or ends with '_'; choose another name")
    return name


def prefix_from_file(stem: str) -> str:
    """A default prefix from a file name: sanitized, lower case, never reserved."""
    name = re.sub(r"[^a-z0-9_]", "_", stem.lower())
    name = re.sub(r"_+", "_", name).strip("_") or "model"
    if name[0].isdigit() or is_reserved(name):
        name = f"model_{name}"
    return name[:32].rstrip("_")


def c_comment(raw: str, limit: int = 60) -> str:
    """Text safe inside /* ... */: printable ASCII, no comment end, trigraph or line splice."""
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in str(raw))
    text = text.replace("*/", "*_/").replace("/*", "/_*").replace("??", "?_?").replace("\\", "/")
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def ini_comment(raw: str, limit: int = 80) -> str:
    """Text safe on one line of an INI comment (platformio.ini): printable ASCII only."""
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in str(raw))
    return text if len(text) <= limit else text[: limit - 3] + "..."
