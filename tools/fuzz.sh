#!/usr/bin/env bash
# The dedicated fuzzing run (issue #6): the property tests with the "fuzz" hypothesis
# profile (tests/test_fuzz.py: >= 10,000 generated cases; tests/test_properties.py keeps
# its own settings), then the number of generated cases from hypothesis' statistics.
#
#   tools/fuzz.sh [extra pytest args]        e.g. tools/fuzz.sh -x -k softmax
#
# Uses PYTHONPATH=src (a built nnmat/_core in src/nnmat); the log is kept in
# ${FUZZ_LOG:-/tmp/nnmat-fuzz.log}.
set -u
cd "$(dirname "$0")/.."
log=${FUZZ_LOG:-/tmp/nnmat-fuzz.log}
NNMAT_FUZZ=1 PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} python3 -m pytest \
    tests/test_fuzz.py tests/test_properties.py -q -p no:cacheprovider \
    --hypothesis-show-statistics \
    -W "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
python3 - "$log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
total = generated = 0
tests = 0
for block in re.split(r"\n(?=\S+::\S+:\n)", text):
    m = re.match(r"(\S+::\S+):\n", block)
    if not m:
        continue
    tests += 1
    for phase, body in re.findall(r"- during (\w+) phase.*?:\n(.*?)(?=\n  - |\Z)", block, re.S):
        c = re.search(r"(\d+) passing examples?, (\d+) failing examples?, (\d+) invalid", body)
        if c:
            n = int(c.group(1)) + int(c.group(2))
            total += n
            if phase in ("generate", "reuse", "explicit"):
                generated += n
print(f"fuzz: {tests} hypothesis tests, {generated} generated cases "
      f"(valid, generate/reuse/explicit phases), {total} including shrinking")
PY
exit "$status"
