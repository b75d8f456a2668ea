#!/bin/sh
# The long fuzzing run: fuzz/decoder.py on the kernel built with AddressSanitizer and UBSan
# (fuzz/build_sanitized.sh), at low priority, for FUZZ_SECONDS (default 1200). The corpus
# grows in var/fuzz/corpus (kept between runs); a crash or disagreement is saved in
# var/fuzz/artifacts/ and ends the run with a non-zero status. Extra arguments go to
# fuzz/decoder.py (libFuzzer flags such as -runs=N or -jobs=N).
set -eu
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
so=$(fuzz/build_sanitized.sh)
mkdir -p var/fuzz/corpus var/fuzz/artifacts
# atheris ships ASan (with UBSan's handlers) linked with libFuzzer, to preload for native
# extensions; PYTHONMALLOC=malloc gives every Python object its own ASan-checked block.
runtime="$("$python" -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so"
exec nice -n 10 env LD_PRELOAD="$runtime" PYTHONMALLOC=malloc \
    ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$python" fuzz/decoder.py --kernel "$so" --seeds var/fuzz/seeds \
    -max_total_time="${FUZZ_SECONDS:-1200}" -max_len=16384 -rss_limit_mb=4096 \
    -dict=fuzz/senml.dict \
    -artifact_prefix=var/fuzz/artifacts/ -print_final_stats=1 "$@" var/fuzz/corpus
