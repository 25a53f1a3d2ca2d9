#!/usr/bin/env bash
# tools/verify_wheel.sh: check the wheel and sdist that tools/build_wheels.sh made.
#
#   tools/verify_wheel.sh [WHEEL]     # default: the repaired wheel in wheelhouse/
#   SKIP_SDIST=1 tools/verify_wheel.sh    # leave out the (slow) sdist build
#
# Steps, each one fails the script (set -e) if it goes wrong:
#   1. ISA check of the build tree's objects (tools/check_isa_objects.py): no AVX / AVX-512 /
#      SSE4 instruction outside the *_avx2 / *_avx512 translation units;
#   2. a fresh venv in a temporary directory; from then on PATH holds only that venv's bin
#      and a directory of symlinks to a few tools (sh, env, ...): no gcc / cc / c++ / cmake
#      (asserted with shutil.which), PYTHONPATH unset, user site off;
#   3. `pip install WHEEL pytest hypothesis` in it (numpy from the index), then from an empty
#      directory `python -c "import nnmat; print(nnmat.config())"`, asserting that nnmat
#      comes from site-packages; ldd / readelf show libgomp coming from nnmat.libs/;
#   4. the test suite, copied out of the tree (tests/, examples/ for the examples' smoke
#      tests, pyproject.toml for the pytest settings) into a temporary directory, run three
#      times against the installed wheel: default ISA, NNMAT_ISA=generic, NNMAT_ISA=avx2
#      (what an older CPU runs; the `isa` fixture still covers each level available here);
#   5. the sdist (dist/nnmat-*.tar.gz) built and installed in another fresh venv (this one
#      with the compiler: building from source needs it) and imported from an empty directory.
# Output: each step's result; the pytest summaries also go to wheelhouse/verify-*.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
PYTHON="${PYTHON:-python3}"
wheel="${1:-$(ls "$root"/wheelhouse/nnmat-*manylinux*.whl)}"
wheel="$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")"
sdist="$(ls "$root"/dist/nnmat-*.tar.gz)"
build_dir="$("$PYTHON" -c 'import sys, sysconfig; v = "cp%d%d" % sys.version_info[:2]; print("build/%s-%s-%s" % (v, v, sysconfig.get_platform().replace("-", "_").replace(".", "_")))')"

echo "== 1. ISA check of the objects in $build_dir"
"$PYTHON" tools/check_isa_objects.py "$build_dir" | tee wheelhouse/verify-isa-objects.txt

work="$(mktemp -d /tmp/nnmat-verify.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "== 2. fresh venv in $work without a compiler on PATH"
"$PYTHON" -m venv "$work/venv"
mkdir "$work/bin"
for tool in sh bash env cat ls uname; do
  ln -s "$(command -v "$tool")" "$work/bin/$tool"
done
clean_env=(env -i "HOME=$HOME" "PATH=$work/venv/bin:$work/bin" "LANG=C.UTF-8" "PYTHONNOUSERSITE=1"
           "TMPDIR=${TMPDIR:-/tmp}" "PIP_DISABLE_PIP_VERSION_CHECK=1")
py="$work/venv/bin/python"
"${clean_env[@]}" "$py" -c '
import shutil, sys
found = {c: shutil.which(c) for c in ("gcc", "cc", "c++", "g++", "clang", "clang++", "cmake", "ld")}
assert not any(found.values()), found
print("no compiler on PATH:", ", ".join(found), "not found")
'

echo "== 3. pip install $(basename "$wheel")"
"${clean_env[@]}" "$py" -m pip install -q "$wheel" pytest hypothesis 2>&1 | { grep -v "^WARNING: Location" || true; }
mkdir "$work/empty"
(cd "$work/empty" && "${clean_env[@]}" "$py" -c '
import os, nnmat
assert "site-packages" in nnmat.__file__, nnmat.__file__
assert not os.listdir("."), "not an empty directory"
print(nnmat.__file__)
print(nnmat.config())')
core="$(ls "$work"/venv/lib/python*/site-packages/nnmat/_core*.so)"
echo "\$ ldd $(basename "$core")"
ldd "$core" | sed 's/^/  /'
ldd "$core" | grep -Eq "libgomp-[0-9a-f]+\.so.*=> .*/site-packages/(nnmat/\.\./)?nnmat\.libs/" \
  || { echo "libgomp is not loaded from nnmat.libs/"; exit 1; }

echo "== 4. test suite out of the tree, against the installed wheel"
mkdir "$work/run"
cp -r tests examples pyproject.toml "$work/run/"
for isa in default generic avx2; do
  isa_env=()
  [[ "$isa" != default ]] && isa_env=("NNMAT_ISA=$isa")
  echo "-- NNMAT_ISA=${isa}"
  (cd "$work/run" && "${clean_env[@]}" "${isa_env[@]}" "$py" -c '
import os, sys, nnmat
root = os.path.realpath(sys.argv[1])
assert "site-packages" in nnmat.__file__, nnmat.__file__
assert not any(os.path.realpath(p or ".").startswith(root) for p in sys.path), sys.path
print("isa in use:", nnmat.config()["isa"])' "$root" \
    && "${clean_env[@]}" "${isa_env[@]}" "$py" -m pytest -q -p no:cacheprovider tests) \
    | tee "wheelhouse/verify-tests-$isa.txt" | tail -n 4
  [[ "${PIPESTATUS[0]}" == 0 ]] || { echo "tests failed under NNMAT_ISA=$isa"; exit 1; }
done

if [[ "${SKIP_SDIST:-0}" != 1 ]]; then
  echo "== 5. sdist $(basename "$sdist"): build and install in a fresh venv"
  "$PYTHON" -m venv "$work/sdist-venv"
  "$work/sdist-venv/bin/pip" install -q "$sdist" 2>&1 | { grep -v "^WARNING: Location" || true; }
  (cd "$work/empty" && "$work/sdist-venv/bin/python" -c '
import nnmat, numpy as np
assert "site-packages" in nnmat.__file__
c = nnmat.matmul(np.ones((5, 7), np.float32), np.ones((7, 3), np.float32))
assert float(c.sum()) == 105.0
print("sdist build OK:", nnmat.__version__, nnmat.config()["isa_compiled"], nnmat.__file__)') \
    | tee wheelhouse/verify-sdist.txt
fi
echo "== verify_wheel.sh: all checks passed"
