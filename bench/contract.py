"""Per-message cost of the wire contract on the ingester's hot path.

Workloads: one gateway pack (up to 10 devices x 4 fields, as edge agents
send) and a one-reading pack. For each, the decoder's three paths, as the code, the
counters and the metrics name them: ``compiled`` (``Decoder.compiled``: the Cython
kernel, bytes to line protocol, the ingester's path for InfluxDB), ``python``
(``Decoder.decode`` then ``encode_lines``: where the kernel is not built) and
``reference`` (``Decoder.reference``: strict SenML, every refusal named) run beside two
baselines in the same process:
``orjson.loads`` alone (the floor: parsing only), and a naive path that parses and
formats lines with f-strings and no validation. Prints one final JSON line with
messages/s, readings/s and the ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cityhub.config import load_pack
from cityhub.lineprotocol import encode_lines
from ingest.decoder import Decoder

T0 = 1_767_225_600


def gateway_pack(devices: list[str], n_fields: int) -> bytes:
    recs: list[dict[str, object]] = []
    fields = ["intensity", "occupancy", "averageVehicleSpeed", "congested"][:n_fields]
    for i, d in enumerate(devices):
        for j, f in enumerate(fields):
            rec: dict[str, object] = {"n": f, "seq": i * 10 + j}
            if j == 0:
                rec["bn"] = f"{d}:"
            if f == "congested":
                rec["vb"] = bool(i % 2)
            else:
                rec["v"] = 10.5 + i + j
            recs.append(rec)
    recs[0]["bt"] = T0
    return orjson.dumps(recs)


def naive(topic: str, payload: bytes) -> bytes:
    recs = orjson.loads(payload)
    bn, bt, out = "", 0.0, []
    for r in recs:
        bn = r.get("bn", bn)
        bt = r.get("bt", bt)
        v = r.get("v", r.get("vb"))
        out.append(f"traffic,device={bn[:-1]} {r['n']}={v} {int((bt + r.get('t', 0)) * 1e9)}")
    return "\n".join(out).encode()


def compiled(dec: Decoder, topic: str, payload: bytes) -> None:
    if dec.compiled(topic, payload, bytearray()) is None:
        raise SystemExit("the compiled kernel left the workload to the Python decoder")


def rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(200):
            fn()
        n += 200
        el = time.perf_counter() - start
        if el >= seconds:
            return n / el


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="0.3 s per measurement")
    args = ap.parse_args()
    secs = 0.3 if args.quick else 2.0
    pack = load_pack("bandung")
    gw = next(g for g in pack.gateways if sum(s.domain == "traffic" for s in g.sensors) >= 8)
    devices = [s.id for s in gw.sensors if s.domain == "traffic"][:10]
    dec = Decoder(pack, clock=lambda: T0 + 60.0)
    topic = f"city/{pack.city.id}/traffic/{gw.id}"
    result: dict[str, object] = {"benchmark": "contract"}
    for name, payload, readings in (
            ("gateway_pack", gateway_pack(devices, 4), len(devices) * 4),
            ("one_reading", gateway_pack(devices[:1], 1), 1)):
        compiled(dec, topic, payload)  # compile (or load) before timing
        fast = rate(lambda p=payload: compiled(dec, topic, p), secs)
        python = rate(lambda p=payload: encode_lines(dec.decode(topic, p)), secs)
        reference = rate(lambda p=payload: encode_lines(dec.reference(topic, p)), secs)
        floor = rate(lambda p=payload: orjson.loads(p), secs)
        unchecked = rate(lambda p=payload: naive(topic, p), secs)
        result[name] = {
            "readings_per_msg": readings,
            "compiled_msgs_per_s": round(fast),
            "compiled_readings_per_s": round(fast * readings),
            "ratio_compiled_vs_python": round(fast / python, 2),
            "python_msgs_per_s": round(python),
            "python_readings_per_s": round(python * readings),
            "reference_msgs_per_s": round(reference),
            "ratio_python_vs_reference": round(python / reference, 2),
            "orjson_only_msgs_per_s": round(floor), "naive_msgs_per_s": round(unchecked),
            "ratio_compiled_vs_orjson_only": round(fast / floor, 3),
            "ratio_compiled_vs_naive": round(fast / unchecked, 3),
            "ratio_python_vs_orjson_only": round(python / floor, 3),
            "ratio_python_vs_naive": round(python / unchecked, 3),
        }
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
