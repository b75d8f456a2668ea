"""A compiled kernel: a SenML pack's bytes straight to line protocol, no Python per reading.

The ingester's hot path. For a message of the shape edge agents publish (a JSON array of
records with the labels ``bn bt n u v vs vb t seq``, strings without escapes, decimal
numbers of at most 18 digits), :func:`pack_lines` checks every record against the
route's devices and fields, and writes the line protocol of its points into ``out``, one
pass over the bytes, compiled by numba (in the style of STUMPY's kernels: plain loops over arrays).

It answers only what it is sure of. Anything else (an escape in a string, a capital ``E``
or any exponent in a time, a time that needs more than the exact fast conversion, a value
outside 1e-300..1e300 in size, an unknown or repeated label, a field given twice for one
point, a device whose points are not in time order, any refusal) makes it return
:data:`FALLBACK`, and the caller takes the message through the Python decoder, which
decides and names the error. A property test checks that whatever this kernel accepts is
what the reference accepts, point for point (``tests/ingest/test_decoder.py``).

Values are written as the JSON text carried them (``14``, ``31.5``); InfluxDB reads a
number without an ``i`` suffix as a float, rounding it exactly as the reference's parser
does, so the stored value is the reference's. Times go through the reference's arithmetic
(``bt + t``, rounded to the microsecond) on exactly converted floats: a decimal with at
most 2**53 as its digits and at most 22 of them after the point converts exactly (the
value is ``digits / 10**k``, one correctly rounded division).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

from cityhub.senml import MAX_TIME, RELATIVE_TIME_LIMIT

__all__ = ["FALLBACK", "NEED_ROOM", "Tables", "pack_lines", "tables", "warm_up"]

FALLBACK = -1  # not sure: the Python decoder decides
NEED_ROOM = -2  # ``out`` is too small: call again with a larger one

# Field kinds in ``Tables.fields``.
NUMBER, BOOL, STRING = 0, 1, 2
# Labels, by index; and as a name table for _find.
_BN, _BT, _N, _U, _V, _VS, _VB, _T, _SEQ = range(9)
_NAMES = (b"bn", b"bt", b"n", b"u", b"v", b"vs", b"vb", b"t", b"seq")
_NLABELS = len(_NAMES)
_LABEL_BLOB = np.frombuffer(b"".join(_NAMES), np.uint8).copy()
_LABEL_TABLE = np.array([(sum(map(len, _NAMES[:k])), sum(map(len, _NAMES[:k + 1])))
                         for k in range(_NLABELS)], np.int64)
# Token types of a label's value.
_STR, _NUM, _TRUE, _FALSE = 1, 2, 3, 4

_RELATIVE_TIME_LIMIT = float(RELATIVE_TIME_LIMIT)
_MAX_TIME = float(MAX_TIME)
_EXACT_MAX = 2**53
_TIME_BYTES = 21  # " {time_ns}\n": a space, at most 19 digits, a newline
_POW10 = np.array([10.0**k for k in range(23)])  # each exact in binary64

_jit = numba.njit(cache=True, nogil=True, boundscheck=False)


@dataclass(frozen=True, slots=True)
class Tables:
    """What one telemetry topic admits, as arrays for the kernel.

    ``blob`` holds every name's bytes; the other arrays hold (start, end) offsets into it.
    ``devices[d]`` = bn start/end (``"{device}:"``), series start/end (escaped
    measurement and tags). ``fields[f]`` = name start/end, key start/end (escaped field
    key and ``=``), unit start/end (-1, -1 for none), kind, first and past-last choice.
    ``choices[c]`` = start/end of an allowed string. ``single`` is the single-device
    topic's device, else -1.
    """

    blob: NDArray[np.uint8]
    devices: NDArray[np.int64]
    fields: NDArray[np.int64]
    choices: NDArray[np.int64]
    single: int
    room: int  # bytes a record may add besides its value (see tables())


def tables(devices: list[tuple[str, str]],
           fields: list[tuple[str, str, str | None, int, tuple[str, ...]]],
           single: int = -1) -> Tables:
    """Tables from ``devices`` (base name, series) and ``fields`` (name, ``key=``, unit,
    kind, choices)."""
    blob = bytearray()

    def put(s: str) -> tuple[int, int]:
        start = len(blob)
        blob.extend(s.encode())
        return start, len(blob)

    devs = np.zeros((len(devices), 4), np.int64)
    for i, (bn, series) in enumerate(devices):
        devs[i] = (*put(bn), *put(series))
    flds = np.zeros((len(fields), 9), np.int64)
    chs: list[tuple[int, int]] = []
    for i, (name, key, unit, kind, choices) in enumerate(fields):
        lo = len(chs)
        chs.extend(put(c) for c in choices)
        flds[i] = (*put(name), *put(key), *(put(unit) if unit is not None else (-1, -1)),
                   kind, lo, len(chs))
    longest = max([len(s.encode()) for _, s in devices] or [0]) \
        + max([len(k.encode()) for _, k, *_ in fields] or [0])
    # A record writes at most: the time ending the previous point, its series, a space,
    # its key, quotes and its value; the time ending the last point must fit as well.
    room = longest + 2 * _TIME_BYTES + 3
    return Tables(np.frombuffer(bytes(blob), np.uint8).copy(), devs, flds,
                  np.array(chs, np.int64).reshape(-1, 2), single, room)


@_jit
def _ws(buf: NDArray[np.uint8], i: int, n: int) -> int:
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    return i


@_jit
def _string_end(buf: NDArray[np.uint8], i: int, n: int) -> int:
    """``buf[i]`` is an opening quote: the index of the closing one, or -1 if the string
    has an escape or a control character, or does not end."""
    i += 1
    while i < n:
        c = buf[i]
        if c == 34:
            return i
        if c == 92 or c < 32:
            return -1
        i += 1
    return -1


@_jit
def _digits(buf: NDArray[np.uint8], i: int, n: int, value: int) -> tuple[int, int, int]:
    """The decimal digits from ``buf[i]``: (their end, ``value`` followed by them, how
    many). A run too long for 64 bits wraps; callers refuse runs that long."""
    count = 0
    while i < n and 48 <= buf[i] <= 57:
        value = value * 10 + (buf[i] - 48)
        count += 1
        i += 1
    return i, value, count


@_jit
def _number(buf: NDArray[np.uint8], i: int, n: int, num: NDArray[np.int64]) -> int:
    """A JSON number at ``buf[i]`` of at most 18 digits (and an exponent of at most 4,
    written ``e``): its end, with ``num`` = its digits as an integer, how many digits
    that is, digits after the point (-1 for none), negative, exponent, has an exponent.
    -1 for anything else."""
    neg = 0
    if i < n and buf[i] == 45:
        neg = 1
        i += 1
    if i >= n or buf[i] < 48 or buf[i] > 57:
        return -1
    mant = 0
    digits = 0
    if buf[i] == 48:
        i += 1
        if i < n and 48 <= buf[i] <= 57:
            return -1  # a leading zero is not JSON
    else:
        i, mant, digits = _digits(buf, i, n, 0)
    frac = -1
    if i < n and buf[i] == 46:
        i, mant, frac = _digits(buf, i + 1, n, mant)
        digits += frac
        if frac == 0:
            return -1
    if digits > 18:
        return -1
    exp = 0
    has_exp = 0
    if i < n and buf[i] == 101:  # e (InfluxDB before 1.8 reads no E)
        has_exp = 1
        i += 1
        sign = 1
        if i < n and (buf[i] == 43 or buf[i] == 45):
            sign = -1 if buf[i] == 45 else 1
            i += 1
        i, exp, size = _digits(buf, i, n, 0)
        if size == 0 or size > 4:
            return -1
        exp *= sign
    elif i < n and buf[i] == 69:
        return -1
    num[0], num[1], num[2], num[3], num[4], num[5] = mant, digits, frac, neg, exp, has_exp
    return i


@_jit
def _exact(token: int, num: NDArray[np.int64]) -> tuple[float, bool]:
    """A label's value if it is a number (``num`` from :func:`_number`), and whether it
    is one that converted exactly: digits up to 2**53, at most 22 after the point, no
    exponent."""
    mant, frac = num[0], num[2]
    if token != _NUM or mant > _EXACT_MAX or frac > 22 or num[5]:
        return 0.0, False
    x = float(mant)
    if frac > 0:
        x = x / _POW10[frac]
    return (-x if num[3] else x), True


@_jit
def _normal(num: NDArray[np.int64]) -> bool:
    """Whether a number is 0 or between 1e-300 and 1e300 in size: finite and normal, so
    InfluxDB reads its text as the reference's parser does (no overflow, no underflow)."""
    mant = num[0]
    if mant == 0:
        return True
    size = num[4] - max(num[2], 0)  # the value is mant * 10**size
    while mant > 0:
        size += 1
        mant //= 10
    return bool(-300 < size <= 300)  # 10**(size - 1) <= value < 10**size


@_jit
def _equal(buf: NDArray[np.uint8], s: int, e: int, blob: NDArray[np.uint8], bs: int,
           be: int) -> bool:
    if e - s != be - bs:
        return False
    # From the end: names of a gateway share prefixes. (A loop, not all(): numba.)
    for k in range(e - s - 1, -1, -1):  # noqa: SIM110
        if buf[s + k] != blob[bs + k]:
            return False
    return True


@_jit
def _find(buf: NDArray[np.uint8], s: int, e: int, blob: NDArray[np.uint8],
          table: NDArray[np.int64]) -> int:
    """The row of ``table`` whose name (columns 0 and 1) is ``buf[s:e]``, or -1."""
    for row in range(len(table)):
        if _equal(buf, s, e, blob, table[row, 0], table[row, 1]):
            return row
    return -1


@_jit
def _copy(out: NDArray[np.uint8], pos: int, src: NDArray[np.uint8], s: int, e: int) -> int:
    for k in range(s, e):
        out[pos] = src[k]
        pos += 1
    return pos


@_jit
def _time(out: NDArray[np.uint8], pos: int, t: int, memo: NDArray[np.int64]) -> int:
    """`` {t}\\n`` (t > 0). ``memo`` = the last time written, where and its length: a
    pack's points mostly share their time, whose digits are then copied."""
    out[pos] = 32
    pos += 1
    if memo[0] == t:
        end = _copy(out, pos, out, memo[1], memo[1] + memo[2])
    else:
        memo[0] = t
        digits = 0
        x = t
        while x > 0:
            digits += 1
            x //= 10
        end = pos + digits
        k = end - 1
        while t > 0:
            out[k] = 48 + t % 10
            t //= 10
            k -= 1
        memo[1], memo[2] = pos, digits
    out[end] = 10
    return end + 1


@_jit
def pack_lines(buf: NDArray[np.uint8], blob: NDArray[np.uint8], devices: NDArray[np.int64],
               fields: NDArray[np.int64], choices: NDArray[np.int64], single: int,
               room: int, limit_ns: int, max_records: int, out: NDArray[np.uint8],
               info: NDArray[np.int64]) -> int:
    """Write the line protocol of the pack ``buf`` into ``out``; return its length, or
    :data:`FALLBACK`, or :data:`NEED_ROOM`. ``info[0]`` is set to the number of points.

    ``limit_ns``: the latest time accepted (the ingester's clock plus its allowance).
    """
    n = len(buf)
    cap = len(out)
    vs = np.empty(_NLABELS, np.int64)  # each label's value: start, end, token type
    ve = np.empty(_NLABELS, np.int64)
    vt = np.zeros(_NLABELS, np.int64)
    nums = np.zeros((_NLABELS, 6), np.int64)  # each number's parts (see _number)
    memo = np.full(3, -1, np.int64)
    last_t = np.full(max(1, len(devices)), -1, np.int64)  # each device's latest point
    dev = single
    has_bt = False
    bt = 0.0
    pos = 0
    points = 0
    cur_dev = -1
    cur_t = -1
    mask = 0
    records = 0
    i = _ws(buf, 0, n)
    if i >= n or buf[i] != 91:  # [
        return FALLBACK
    i = _ws(buf, i + 1, n)
    while True:
        # -- one record: its labels' tokens -------------------------------------------
        if i >= n or buf[i] != 123:  # {
            return FALLBACK
        records += 1
        if records > max_records:
            return FALLBACK
        for k in range(_NLABELS):
            vt[k] = 0
        i = _ws(buf, i + 1, n)
        if i < n and buf[i] == 125:  # {} : no name
            return FALLBACK
        while True:
            if i >= n or buf[i] != 34:
                return FALLBACK
            e = _string_end(buf, i, n)
            if e < 0:
                return FALLBACK
            lab = _find(buf, i + 1, e, _LABEL_BLOB, _LABEL_TABLE)
            if lab < 0 or vt[lab] != 0:
                return FALLBACK  # a label the kernel does not take, or a repeated one
            i = _ws(buf, e + 1, n)
            if i >= n or buf[i] != 58:  # :
                return FALLBACK
            i = _ws(buf, i + 1, n)
            if i >= n:
                return FALLBACK
            c = buf[i]
            if c == 34:
                e = _string_end(buf, i, n)
                if e < 0:
                    return FALLBACK
                vs[lab], ve[lab], vt[lab] = i + 1, e, _STR
                i = e + 1
            elif c == 116:  # true
                if i + 4 > n or buf[i + 1] != 114 or buf[i + 2] != 117 or buf[i + 3] != 101:
                    return FALLBACK
                vs[lab], ve[lab], vt[lab] = i, i + 4, _TRUE
                i += 4
            elif c == 102:  # false
                if i + 5 > n or buf[i + 1] != 97 or buf[i + 2] != 108 \
                        or buf[i + 3] != 115 or buf[i + 4] != 101:
                    return FALLBACK
                vs[lab], ve[lab], vt[lab] = i, i + 5, _FALSE
                i += 5
            else:
                e = _number(buf, i, n, nums[lab])
                if e < 0:
                    return FALLBACK
                vs[lab], ve[lab], vt[lab] = i, e, _NUM
                i = e
            i = _ws(buf, i, n)
            if i < n and buf[i] == 44:  # ,
                i = _ws(buf, i + 1, n)
                continue
            if i < n and buf[i] == 125:  # }
                i += 1
                break
            return FALLBACK
        # -- what the record means ------------------------------------------------------
        if vt[_BN] != 0:
            if vt[_BN] != _STR:
                return FALLBACK
            if dev < 0 or not _equal(buf, vs[_BN], ve[_BN], blob, devices[dev, 0],
                                     devices[dev, 1]):
                dev = _find(buf, vs[_BN], ve[_BN], blob, devices)
        if vt[_BT] != 0:
            bt, ok = _exact(vt[_BT], nums[_BT])
            if not ok:
                return FALLBACK
            has_bt = True
        if vt[_N] != _STR or dev < 0:
            return FALLBACK
        f = _find(buf, vs[_N], ve[_N], blob, fields)
        if f < 0:
            return FALLBACK
        if vt[_T] != 0:
            t, ok = _exact(vt[_T], nums[_T])
            if not ok:
                return FALLBACK
            when = (bt if has_bt else 0.0) + t
        elif has_bt:
            when = bt
        else:
            return FALLBACK
        if vt[_U] != 0 and (vt[_U] != _STR or fields[f, 4] < 0 or not _equal(
                buf, vs[_U], ve[_U], blob, fields[f, 4], fields[f, 5])):
            return FALLBACK
        kind = fields[f, 6]
        if kind == NUMBER:
            if vt[_V] != _NUM or vt[_VS] != 0 or vt[_VB] != 0:
                return FALLBACK
            if not _normal(nums[_V]):
                return FALLBACK
            if nums[_V, 3] and nums[_V, 0] == 0 and nums[_V, 2] < 0 and not nums[_V, 5]:
                return FALLBACK  # "-0": the reference reads the integer 0
            lab = _V
        elif kind == BOOL:
            if (vt[_VB] != _TRUE and vt[_VB] != _FALSE) or vt[_V] != 0 or vt[_VS] != 0:
                return FALLBACK
            lab = _VB
        else:
            if vt[_VS] != _STR or vt[_V] != 0 or vt[_VB] != 0:
                return FALLBACK
            if _find(buf, vs[_VS], ve[_VS], blob, choices[fields[f, 7]:fields[f, 8]]) < 0:
                return FALLBACK
            lab = _VS
        if vt[_SEQ] != 0 and (vt[_SEQ] != _NUM or nums[_SEQ, 2] >= 0 or nums[_SEQ, 3]
                              or nums[_SEQ, 5]):
            return FALLBACK  # not a plain non-negative integer
        if when < _RELATIVE_TIME_LIMIT or when > _MAX_TIME:
            return FALLBACK
        time_ns = int(np.rint(when * 1e6)) * 1000
        if time_ns > limit_ns:
            return FALLBACK
        # -- its line protocol ----------------------------------------------------------
        if pos + room + (ve[lab] - vs[lab]) > cap:
            return NEED_ROOM
        bit = 1 << f
        if points > 0 and dev == cur_dev and time_ns == cur_t:
            if mask & bit:
                return FALLBACK  # a field given twice for one point: the later one wins
            mask |= bit
            out[pos] = 44
            pos += 1
        else:
            if last_t[dev] >= time_ns:
                return FALLBACK  # out of time order: points to merge may be far apart
            last_t[dev] = time_ns
            if points > 0:
                pos = _time(out, pos, cur_t, memo)
            pos = _copy(out, pos, blob, devices[dev, 2], devices[dev, 3])
            out[pos] = 32
            pos += 1
            cur_dev, cur_t, mask = dev, time_ns, bit
            points += 1
        pos = _copy(out, pos, blob, fields[f, 2], fields[f, 3])
        if lab == _VS:
            out[pos] = 34
            pos = _copy(out, pos + 1, buf, vs[lab], ve[lab])
            out[pos] = 34
            pos += 1
        else:
            pos = _copy(out, pos, buf, vs[lab], ve[lab])
        # -- the next record, or the end --------------------------------------------------
        i = _ws(buf, i, n)
        if i < n and buf[i] == 44:
            i = _ws(buf, i + 1, n)
            continue
        if i < n and buf[i] == 93:  # ]
            i = _ws(buf, i + 1, n)
            if i != n:
                return FALLBACK  # trailing bytes
            break
        return FALLBACK
    pos = _time(out, pos, cur_t, memo)
    info[0] = points
    return pos


def warm_up() -> None:
    """Compile (or load from numba's cache) before the first message needs it."""
    t = tables([("d:", "m,device=d")], [("x", "x=", None, NUMBER, ())])
    out = np.empty(256, np.uint8)
    info = np.zeros(1, np.int64)
    pack_lines(np.frombuffer(b'[{"bn":"d:","bt":1767225600,"n":"x","v":1}]', np.uint8),
               t.blob, t.devices, t.fields, t.choices, t.single, t.room, 2**62, 10, out,
               info)

