"""Types of the compiled kernel (``kernel.pyx``); see its docstring."""

FALLBACK: int
NEED_ROOM: int
NUMBER: int
BOOL: int
STRING: int

class Tables:
    single: int
    room: int
    def __init__(self, devices: list[tuple[str, str]],
                 fields: list[tuple[str, str, str | None, int, tuple[str, ...]]],
                 single: int = -1) -> None: ...

def pack_lines(payload: bytes, tables: Tables, limit_ns: int, max_records: int,
               out: bytearray) -> int: ...
def pack_into(payload: bytes, tables: Tables, limit_ns: int, max_records: int,
              out: bytearray, cap: int) -> tuple[int, int]: ...
