"""Coverage-guided fuzzing of the ingester's decoder: compiled, python and reference must
agree on every input, and nothing may crash (see ``fuzz/README.md``).

    python fuzz/decoder.py [--kernel PATH] [--seeds DIR] [libFuzzer flags] [CORPUS_DIR ...]

``--kernel``: load the compiled kernel from this shared object instead of the installed
one (a build with AddressSanitizer and UBSan, ``fuzz/build_sanitized.sh``); run it with
the sanitizer runtime preloaded, as that script prints. ``--seeds``: write the seed corpus
(``fuzz.agreement.seeds``) into DIR first and read it as a corpus too. Everything else goes
to libFuzzer (``-runs=N``, ``-max_total_time=S``, ``-max_len=N``, ...). An input that
makes the paths disagree, or raises anything else, stops the run with the traceback and
is saved as ``crash-*`` (``-artifact_prefix=DIR/`` puts it elsewhere).
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import atheris  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _load_kernel(path: Path) -> None:
    """Make ``ingest.kernel`` the extension at ``path`` (before the decoder imports it)."""
    import ingest

    loader = importlib.machinery.ExtensionFileLoader("ingest.kernel", str(path))
    spec = importlib.util.spec_from_file_location("ingest.kernel", path, loader=loader)
    if spec is None:
        raise SystemExit(f"not an extension module: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ingest.kernel"] = module
    loader.exec_module(module)
    ingest.kernel = module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", type=Path, help="the compiled kernel's .so to load")
    ap.add_argument("--seeds", type=Path, help="write the seed corpus here and read it")
    args, rest = ap.parse_known_args()
    if args.kernel is not None:
        _load_kernel(args.kernel.resolve())
    # Python coverage of the python and reference paths (the compiled path's comes from
    # its own -fsanitize=fuzzer-no-link build, when given one).
    with atheris.instrument_imports(include=["cityhub", "ingest", "fuzz"]):
        from fuzz.agreement import Agreement, write_seeds

    agreement = Agreement()
    kernel = agreement.kernel
    print(f"fuzz/decoder.py: compiled kernel {getattr(kernel, '__file__', None)}; "
          f"{len(agreement.topics)} topics", file=sys.stderr)
    corpora = []
    if args.seeds is not None:
        n = write_seeds(args.seeds)
        print(f"fuzz/decoder.py: {n} seeds in {args.seeds}", file=sys.stderr)
        corpora.append(str(args.seeds))
    # libFuzzer adds new inputs to the first corpus directory: keep the seeds last.
    argv = [sys.argv[0], *rest, *corpora]

    def one_input(data: bytes) -> None:
        agreement.check(data)

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
