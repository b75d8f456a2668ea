# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
"""A compiled kernel: a SenML pack's bytes straight to line protocol, no Python per reading.

The ingester's hot path. For a message of the shape edge agents publish (a JSON array of
records with the labels ``bn bt n u v vs vb t seq``, strings without escapes, decimal
numbers of at most 18 digits), :func:`pack_lines` checks every record against the
route's devices and fields (a :class:`Tables`), and appends the line protocol of its
points to a ``bytearray``, in one pass over the bytes, with no Python object per record.

Written in Cython and compiled ahead of time, when the package is installed (``setup.py``),
so the ingester loads no compiler: a numba version of this kernel cost each ingester
process about 100 MB of resident memory (numba, numpy and LLVM), half its budget. Plain
loops over bytes, in the style of STUMPY's kernels; the bounds are checked by the code
itself (one check per record, :attr:`Tables.room`), not per byte.

It answers only what it is sure of. Anything else (an escape in a string, a capital ``E``
or any exponent in a time, a time that needs more than the exact fast conversion, a value
outside 1e-300..1e300 in size, an unknown or repeated label, a field given twice for one
point, a device whose points are not in time order, any refusal) makes it return
:data:`FALLBACK`, ``out`` unchanged, and the caller takes the message through the Python
decoder, which decides and names the error. A property test checks that whatever this
kernel accepts is what the reference accepts, point for point
(``tests/ingest/test_decoder.py``).

Values are written as the JSON text carried them (``14``, ``31.5``); InfluxDB reads a
number without an ``i`` suffix as a float, rounding it exactly as the reference's parser
does, so the stored value is the reference's. Times go through the reference's arithmetic
(``bt + t``, rounded to the microsecond, half to even) on exactly converted floats: a
decimal with at most 2**53 as its digits and at most 22 of them after the point converts
exactly (the value is ``digits / 10**k``, one correctly rounded division).
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport rint
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from cityhub.senml import MAX_TIME, RELATIVE_TIME_LIMIT

__all__ = ["BOOL", "FALLBACK", "NEED_ROOM", "NUMBER", "STRING", "Tables", "pack_into",
           "pack_lines"]

FALLBACK = -1  # not sure: the Python decoder decides
NEED_ROOM = -2  # (pack_into) the buffer is too small
cdef enum:
    _FALLBACK = -1
    _NEED_ROOM = -2

# Field kinds.
NUMBER, BOOL, STRING = 0, 1, 2
cdef enum:
    _NUMBER = 0
    _BOOL = 1

# Labels, by index.
cdef enum:
    _BN, _BT, _N, _U, _V, _VS, _VB, _T, _SEQ, _NLABELS
# Token types of a label's value.
cdef enum:
    _STR = 1
    _NUM, _TRUE, _FALSE

cdef enum:
    _TIME_BYTES = 21  # " {time_ns}\n": a space, at most 19 digits, a newline
    _MAX_FIELDS = 64  # a point's fields are a 64-bit mask

ctypedef unsigned char uchar

cdef double _RELATIVE_TIME_LIMIT = float(RELATIVE_TIME_LIMIT)
cdef double _MAX_TIME = float(MAX_TIME)
cdef uint64_t _EXACT_MAX = 2**53
cdef double _POW10[23]  # each exact in binary64
_POW10[:] = [10.0 ** k for k in range(23)]


cdef struct Span:  # bytes [start, end) of Tables.blob
    Py_ssize_t start, end


cdef struct Field:  # its name is in Tables.field_names
    Span key, unit  # unit.start < 0: none
    int kind
    Py_ssize_t first_choice, end_choice


cdef struct Num:  # a JSON number, as _number reads it
    uint64_t mant  # its digits, as an integer
    int digits  # how many
    int frac  # digits after the point (-1: no point)
    int neg
    int exp
    int has_exp


cdef class Tables:
    """What one telemetry topic admits, for the kernel: ``devices`` (base name
    ``"{device}:"``, series: escaped measurement and tags), ``fields`` (name, escaped
    ``key=``, unit or None, kind, allowed strings), and ``single``, the index of the
    single-device topic's device, else -1.

    ``room`` is the most bytes a record may add to the lines besides its value: the time
    ending the previous point, the longest series and key, a space and quotes, and the time
    ending the last point.
    """

    cdef bytes blob  # every name's bytes; the spans point into it
    cdef Span* bns  # each device's base name (what _find looks up), and its series
    cdef Span* series
    cdef Py_ssize_t n_devices
    cdef Span* field_names  # each field's name, and the rest of it
    cdef Field* fields
    cdef Py_ssize_t n_fields
    cdef Span* choices
    cdef readonly int single
    cdef readonly Py_ssize_t room

    def __cinit__(self, list devices, list fields, int single=-1):
        self.bns = <Span*>PyMem_Malloc(max(1, len(devices)) * sizeof(Span))
        self.series = <Span*>PyMem_Malloc(max(1, len(devices)) * sizeof(Span))
        self.field_names = <Span*>PyMem_Malloc(max(1, len(fields)) * sizeof(Span))
        self.fields = <Field*>PyMem_Malloc(max(1, len(fields)) * sizeof(Field))
        n_choices = sum(len(f[4]) for f in fields)
        self.choices = <Span*>PyMem_Malloc(max(1, n_choices) * sizeof(Span))
        if not (self.bns and self.series and self.field_names and self.fields
                and self.choices):
            raise MemoryError()
        if not -1 <= single < len(devices):
            raise ValueError(f"single: {single} is no device's index")
        if len(fields) > _MAX_FIELDS:
            raise ValueError(f"{len(fields)} fields: the kernel takes at most {_MAX_FIELDS}")
        blob = bytearray()

        def put(s):
            start = len(blob)
            blob.extend(s.encode())
            return start, len(blob)

        cdef Py_ssize_t i
        for i, (bn, series) in enumerate(devices):
            self.bns[i].start, self.bns[i].end = put(bn)
            self.series[i].start, self.series[i].end = put(series)
        self.n_devices = len(devices)
        cdef Py_ssize_t c = 0
        for i, (name, key, unit, kind, choices) in enumerate(fields):
            self.field_names[i].start, self.field_names[i].end = put(name)
            self.fields[i].key.start, self.fields[i].key.end = put(key)
            self.fields[i].unit.start, self.fields[i].unit.end = \
                put(unit) if unit is not None else (-1, -1)
            self.fields[i].kind = kind
            self.fields[i].first_choice = c
            for s in choices:
                self.choices[c].start, self.choices[c].end = put(s)
                c += 1
            self.fields[i].end_choice = c
        self.n_fields = len(fields)
        self.blob = bytes(blob)
        self.single = single
        longest = max([len(s.encode()) for _, s in devices] or [0]) \
            + max([len(f[1].encode()) for f in fields] or [0])
        self.room = longest + 2 * _TIME_BYTES + 3

    def __dealloc__(self):
        PyMem_Free(self.bns)
        PyMem_Free(self.series)
        PyMem_Free(self.field_names)
        PyMem_Free(self.fields)
        PyMem_Free(self.choices)


cdef inline Py_ssize_t _ws(const uchar* buf, Py_ssize_t i, Py_ssize_t n) noexcept:
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    return i


cdef inline Py_ssize_t _string_end(const uchar* buf, Py_ssize_t i, Py_ssize_t n) noexcept:
    """``buf[i]`` is an opening quote: the index of the closing one, or -1 if the string
    has an escape or a control character, or does not end."""
    cdef uchar c
    i += 1
    while i < n:
        c = buf[i]
        if c == 34:
            return i
        if c == 92 or c < 32:
            return -1
        i += 1
    return -1


cdef inline Py_ssize_t _digits(const uchar* buf, Py_ssize_t i, Py_ssize_t n,
                               uint64_t* value, int* count) noexcept:
    """The decimal digits from ``buf[i]``, appended to ``value`` (a run too long for 64
    bits wraps; callers refuse runs that long), ``count`` of them: their end."""
    cdef uint64_t v = value[0]
    cdef int k = 0
    while i < n and 48 <= buf[i] <= 57:
        v = v * 10 + (buf[i] - 48)
        k += 1
        i += 1
    value[0] = v
    count[0] = k
    return i


cdef Py_ssize_t _number(const uchar* buf, Py_ssize_t i, Py_ssize_t n, Num* num) noexcept:
    """A JSON number at ``buf[i]`` of at most 18 digits (and an exponent of at most 4
    digits, written ``e``): its end, with ``num`` filled in; -1 for anything else."""
    cdef int neg = 0, digits = 0, frac = -1, size = 0, sign = 1, has_exp = 0
    cdef uint64_t mant = 0, exp = 0
    if i < n and buf[i] == 45:
        neg = 1
        i += 1
    if i >= n or buf[i] < 48 or buf[i] > 57:
        return -1
    if buf[i] == 48:
        i += 1
        if i < n and 48 <= buf[i] <= 57:
            return -1  # a leading zero is not JSON
    else:
        i = _digits(buf, i, n, &mant, &digits)
    if i < n and buf[i] == 46:
        i = _digits(buf, i + 1, n, &mant, &frac)
        digits += frac
        if frac == 0:
            return -1
    if digits > 18:
        return -1
    if i < n and buf[i] == 101:  # e (InfluxDB before 1.8 reads no E)
        has_exp = 1
        i += 1
        if i < n and (buf[i] == 43 or buf[i] == 45):
            sign = -1 if buf[i] == 45 else 1
            i += 1
        i = _digits(buf, i, n, &exp, &size)
        if size == 0 or size > 4:
            return -1
    elif i < n and buf[i] == 69:
        return -1
    num.mant, num.digits, num.frac, num.neg = mant, digits, frac, neg
    num.exp, num.has_exp = sign * <int>exp, has_exp
    return i


cdef inline bint _exact(int token, const Num* num, double* out) noexcept:
    """A label's value, if it is a number that converts exactly: digits up to 2**53, at
    most 22 after the point, no exponent."""
    if token != _NUM or num.mant > _EXACT_MAX or num.frac > 22 or num.has_exp:
        return False
    cdef double x = <double>num.mant
    if num.frac > 0:
        x = x / _POW10[num.frac]
    out[0] = -x if num.neg else x
    return True


cdef inline bint _normal(const Num* num) noexcept:
    """Whether a number is 0 or between 1e-300 and 1e300 in size: finite and normal, so
    InfluxDB reads its text as the reference's parser does (no overflow, no underflow)."""
    cdef uint64_t mant = num.mant
    if mant == 0:
        return True
    cdef int size = num.exp - max(num.frac, 0)  # the value is mant * 10**size
    while mant > 0:
        size += 1
        mant //= 10
    return -300 < size <= 300  # 10**(size - 1) <= value < 10**size


cdef inline bint _equal(const uchar* buf, Py_ssize_t s, Py_ssize_t e, const uchar* blob,
                        Span span) noexcept:
    cdef Py_ssize_t k
    if e - s != span.end - span.start:
        return False
    # From the end: names of a gateway share prefixes.
    for k in range(e - s - 1, -1, -1):
        if buf[s + k] != blob[span.start + k]:
            return False
    return True


cdef inline Py_ssize_t _find(const uchar* buf, Py_ssize_t s, Py_ssize_t e,
                             const uchar* blob, const Span* names, Py_ssize_t lo,
                             Py_ssize_t hi) noexcept:
    """The index in ``lo:hi`` of the name ``buf[s:e]`` among ``names``, or -1."""
    cdef Py_ssize_t k
    for k in range(lo, hi):
        if _equal(buf, s, e, blob, names[k]):
            return k
    return -1


cdef inline Py_ssize_t _copy(uchar* out, Py_ssize_t pos, const uchar* src, Py_ssize_t s,
                             Py_ssize_t e) noexcept:
    """``src[s:e]`` written at ``out[pos]``: the position after it."""
    memcpy(out + pos, src + s, e - s)
    return pos + e - s


cdef Py_ssize_t _label(const uchar* buf, Py_ssize_t s, Py_ssize_t e) noexcept:
    """The index of the label ``buf[s:e]``, or -1."""
    cdef Py_ssize_t size = e - s
    cdef uchar a = buf[s] if size > 0 else 0
    cdef uchar b = buf[s + 1] if size > 1 else 0
    if size == 1:
        if a == 110:  # n
            return _N
        if a == 118:  # v
            return _V
        if a == 116:  # t
            return _T
        if a == 117:  # u
            return _U
    elif size == 2:
        if a == 98 and b == 110:  # bn
            return _BN
        if a == 98 and b == 116:  # bt
            return _BT
        if a == 118 and b == 115:  # vs
            return _VS
        if a == 118 and b == 98:  # vb
            return _VB
    elif size == 3 and a == 115 and b == 101 and buf[s + 2] == 113:  # seq
        return _SEQ
    return -1


cdef inline Py_ssize_t _time(uchar* out, Py_ssize_t pos, int64_t t, int64_t* memo) noexcept:
    """`` {t}\\n`` (t > 0). ``memo`` = the last time written, where and its length: a
    pack's points mostly share their time, whose digits are then copied."""
    cdef Py_ssize_t end, k
    cdef int digits = 0
    cdef int64_t x = t
    out[pos] = 32
    pos += 1
    if memo[0] == t:
        end = _copy(out, pos, out, memo[1], memo[1] + memo[2])
    else:
        memo[0] = t
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


cdef Py_ssize_t _pack(const uchar* buf, Py_ssize_t n, Tables tb, int64_t limit_ns,
                      Py_ssize_t max_records, uchar* out, Py_ssize_t cap,
                      int64_t* last_t, Py_ssize_t* n_points) noexcept:
    """Write the line protocol of the pack ``buf[:n]`` into ``out[:cap]``: its length, or
    _FALLBACK, or _NEED_ROOM. ``last_t`` has a slot per device."""
    cdef const uchar* blob = <const uchar*>PyBytes_AS_STRING(tb.blob)
    cdef Py_ssize_t vs[_NLABELS]  # each label's value: start, end, token type
    cdef Py_ssize_t ve[_NLABELS]
    cdef int vt[_NLABELS]
    cdef Num nums[_NLABELS]
    cdef int64_t memo[3]
    cdef Py_ssize_t dev = tb.single, cur_dev = -1, f = -1, i, e, k, lab, pos = 0
    cdef Py_ssize_t points = 0, records = 0
    cdef bint has_bt = False
    cdef double bt = 0.0, t = 0.0, when
    cdef int64_t cur_t = -1, time_ns
    cdef uint64_t mask = 0, bit
    cdef uchar c
    cdef int kind
    cdef const Num* v
    memo[0] = memo[1] = memo[2] = -1
    for k in range(tb.n_devices):
        last_t[k] = -1
    i = _ws(buf, 0, n)
    if i >= n or buf[i] != 91:  # [
        return _FALLBACK
    i = _ws(buf, i + 1, n)
    while True:
        # -- one record: its labels' tokens -------------------------------------------
        if i >= n or buf[i] != 123:  # {
            return _FALLBACK
        records += 1
        if records > max_records:
            return _FALLBACK
        for k in range(_NLABELS):
            vt[k] = 0
        i = _ws(buf, i + 1, n)
        if i < n and buf[i] == 125:  # {} : no name
            return _FALLBACK
        while True:
            if i >= n or buf[i] != 34:
                return _FALLBACK
            e = _string_end(buf, i, n)
            if e < 0:
                return _FALLBACK
            lab = _label(buf, i + 1, e)
            if lab < 0 or vt[lab] != 0:
                return _FALLBACK  # a label the kernel does not take, or a repeated one
            i = _ws(buf, e + 1, n)
            if i >= n or buf[i] != 58:  # :
                return _FALLBACK
            i = _ws(buf, i + 1, n)
            if i >= n:
                return _FALLBACK
            c = buf[i]
            if c == 34:
                e = _string_end(buf, i, n)
                if e < 0:
                    return _FALLBACK
                vs[lab], ve[lab], vt[lab] = i + 1, e, _STR
                i = e + 1
            elif c == 116:  # true
                if i + 4 > n or buf[i + 1] != 114 or buf[i + 2] != 117 or buf[i + 3] != 101:
                    return _FALLBACK
                vs[lab], ve[lab], vt[lab] = i, i + 4, _TRUE
                i += 4
            elif c == 102:  # false
                if i + 5 > n or buf[i + 1] != 97 or buf[i + 2] != 108 \
                        or buf[i + 3] != 115 or buf[i + 4] != 101:
                    return _FALLBACK
                vs[lab], ve[lab], vt[lab] = i, i + 5, _FALSE
                i += 5
            else:
                e = _number(buf, i, n, &nums[lab])
                if e < 0:
                    return _FALLBACK
                vs[lab], ve[lab], vt[lab] = i, e, _NUM
                i = e
            i = _ws(buf, i, n)
            if i < n and buf[i] == 44:  # ,
                i = _ws(buf, i + 1, n)
                continue
            if i < n and buf[i] == 125:  # }
                i += 1
                break
            return _FALLBACK
        # -- what the record means ------------------------------------------------------
        if vt[_BN] != 0:
            if vt[_BN] != _STR:
                return _FALLBACK
            if dev < 0 or not _equal(buf, vs[_BN], ve[_BN], blob, tb.bns[dev]):
                dev = _find(buf, vs[_BN], ve[_BN], blob, tb.bns, 0, tb.n_devices)
        if vt[_BT] != 0:
            if not _exact(vt[_BT], &nums[_BT], &bt):
                return _FALLBACK
            has_bt = True
        if vt[_N] != _STR or dev < 0:
            return _FALLBACK
        f = _find(buf, vs[_N], ve[_N], blob, tb.field_names, 0, tb.n_fields)
        if f < 0:
            return _FALLBACK
        if vt[_T] != 0:
            if not _exact(vt[_T], &nums[_T], &t):
                return _FALLBACK
            when = (bt if has_bt else 0.0) + t
        elif has_bt:
            when = bt
        else:
            return _FALLBACK
        if vt[_U] != 0 and (vt[_U] != _STR or tb.fields[f].unit.start < 0 or not _equal(
                buf, vs[_U], ve[_U], blob, tb.fields[f].unit)):
            return _FALLBACK
        kind = tb.fields[f].kind
        if kind == _NUMBER:
            if vt[_V] != _NUM or vt[_VS] != 0 or vt[_VB] != 0:
                return _FALLBACK
            v = &nums[_V]
            if not _normal(v):
                return _FALLBACK
            if v.neg and v.mant == 0 and v.frac < 0 and not v.has_exp:
                return _FALLBACK  # "-0": the reference reads the integer 0
            lab = _V
        elif kind == _BOOL:
            if (vt[_VB] != _TRUE and vt[_VB] != _FALSE) or vt[_V] != 0 or vt[_VS] != 0:
                return _FALLBACK
            lab = _VB
        else:
            if vt[_VS] != _STR or vt[_V] != 0 or vt[_VB] != 0:
                return _FALLBACK
            if _find(buf, vs[_VS], ve[_VS], blob, tb.choices, tb.fields[f].first_choice,
                     tb.fields[f].end_choice) < 0:
                return _FALLBACK
            lab = _VS
        if vt[_SEQ] != 0:
            v = &nums[_SEQ]
            if vt[_SEQ] != _NUM or v.frac >= 0 or v.neg or v.has_exp:
                return _FALLBACK  # not a plain non-negative integer
        if when < _RELATIVE_TIME_LIMIT or when > _MAX_TIME:
            return _FALLBACK
        time_ns = <int64_t>rint(when * 1e6) * 1000
        if time_ns > limit_ns:
            return _FALLBACK
        # -- its line protocol ----------------------------------------------------------
        if pos + tb.room + (ve[lab] - vs[lab]) > cap:
            return _NEED_ROOM
        bit = (<uint64_t>1) << f
        if points > 0 and dev == cur_dev and time_ns == cur_t:
            if mask & bit:
                return _FALLBACK  # a field given twice for one point: the later one wins
            mask |= bit
            out[pos] = 44
            pos += 1
        else:
            if last_t[dev] >= time_ns:
                return _FALLBACK  # out of time order: points to merge may be far apart
            last_t[dev] = time_ns
            if points > 0:
                pos = _time(out, pos, cur_t, memo)
            pos = _copy(out, pos, blob, tb.series[dev].start, tb.series[dev].end)
            out[pos] = 32
            pos += 1
            cur_dev, cur_t, mask = dev, time_ns, bit
            points += 1
        pos = _copy(out, pos, blob, tb.fields[f].key.start, tb.fields[f].key.end)
        if lab == _VS:
            out[pos] = 34
            pos += 1
        pos = _copy(out, pos, buf, vs[lab], ve[lab])
        if lab == _VS:
            out[pos] = 34
            pos += 1
        # -- the next record, or the end --------------------------------------------------
        i = _ws(buf, i, n)
        if i < n and buf[i] == 44:
            i = _ws(buf, i + 1, n)
            continue
        if i < n and buf[i] == 93:  # ]
            i = _ws(buf, i + 1, n)
            if i != n:
                return _FALLBACK  # trailing bytes
            break
        return _FALLBACK
    pos = _time(out, pos, cur_t, memo)
    n_points[0] = points
    return pos


cdef Py_ssize_t _run(bytes payload, Tables tables, int64_t limit_ns, Py_ssize_t max_records,
                     uchar* out, Py_ssize_t cap, Py_ssize_t* n_points) except? -3:
    cdef int64_t stack_t[64]
    cdef int64_t* last_t = stack_t
    cdef Py_ssize_t r
    if tables.n_devices > 64:
        last_t = <int64_t*>PyMem_Malloc(tables.n_devices * sizeof(int64_t))
        if not last_t:
            raise MemoryError()
    r = _pack(<const uchar*>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), tables,
              limit_ns, max_records, out, cap, last_t, n_points)
    if last_t != stack_t:
        PyMem_Free(last_t)
    return r


def pack_lines(bytes payload not None, Tables tables not None, int64_t limit_ns,
               Py_ssize_t max_records, bytearray out not None):
    """Append the line protocol of the pack ``payload`` (newline-terminated lines) to
    ``out`` and return how many points that is; or return :data:`FALLBACK`, with ``out``
    unchanged, when the kernel is not sure of the message.

    ``limit_ns``: the latest time accepted (the ingester's clock plus its allowance);
    ``max_records``: the most records a pack may have.
    """
    cdef Py_ssize_t start = PyByteArray_GET_SIZE(out)
    # Room for lines about twice the JSON's size (a record of a few labels makes a line of
    # its device's series and tags); a larger pack is written again into twice as much.
    cdef Py_ssize_t cap = 2 * PyBytes_GET_SIZE(payload) + tables.room + 64
    cdef Py_ssize_t r = _FALLBACK, points = 0
    try:
        while True:
            PyByteArray_Resize(out, start + cap)
            r = _run(payload, tables, limit_ns, max_records,
                     <uchar*>PyByteArray_AS_STRING(out) + start, cap, &points)
            if r != _NEED_ROOM:
                break
            cap *= 2
    finally:  # also when raising: out never keeps bytes the kernel did not write
        PyByteArray_Resize(out, start + (r if r >= 0 else 0))
    return points if r >= 0 else FALLBACK


def pack_into(bytes payload not None, Tables tables not None, int64_t limit_ns,
              Py_ssize_t max_records, bytearray out not None, Py_ssize_t cap):
    """:func:`pack_lines` into the first ``cap`` bytes of ``out`` as they are (for tests:
    the kernel must never write past them): (the lines' length, or FALLBACK or
    NEED_ROOM; how many points)."""
    if not 0 <= cap <= PyByteArray_GET_SIZE(out):
        raise ValueError(f"cap {cap}: out has {PyByteArray_GET_SIZE(out)} bytes")
    cdef Py_ssize_t points = 0
    r = _run(payload, tables, limit_ns, max_records,
             <uchar*>PyByteArray_AS_STRING(out), cap, &points)
    return r, points
