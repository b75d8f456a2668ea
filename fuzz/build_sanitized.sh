#!/bin/sh
# Build the compiled kernel (ingest/kernel.pyx) with clang, AddressSanitizer, UBSan and
# libFuzzer's coverage (-fsanitize=fuzzer-no-link) into build/fuzz-asan/, for
# fuzz/decoder.py --kernel. The installed kernel (ingest/kernel.*.so) is not touched.
# Prints the .so's path. Needs Debian's clang (apt-get install clang).
set -eu
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
out=build/fuzz-asan
# setup.py's build requirements (pyproject.toml), which pip's isolated builds bring, in a
# venv of their own made from the same interpreter (so the .so fits it).
base=$("$python" -c "import sys; print(sys._base_executable)")
if [ ! -x "$out/env/bin/python" ]; then
    "$base" -m venv "$out/env"
    "$out/env/bin/python" -m pip install -q "setuptools>=77" "Cython>=3.1" >&2
fi
python="$out/env/bin/python"
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined"
flags="$flags -fno-omit-frame-pointer -g"
CC=clang LDSHARED="clang -shared" CFLAGS="$flags" LDFLAGS="$flags" \
    "$python" setup.py -q build_ext --force --build-lib "$out/lib" --build-temp "$out/tmp" \
    >&2
so=$(ls "$out"/lib/ingest/kernel.*.so)
nm "$so" | grep -q __asan_report || { echo "$so: no ASan symbols" >&2; exit 1; }
nm "$so" | grep -q __sanitizer_cov || { echo "$so: no coverage symbols" >&2; exit 1; }
echo "$so"
