#!/usr/bin/env python3
"""tools/check_isa_objects.py: no instruction beyond x86-64 baseline outside the per-ISA kernels.

    python3 tools/check_isa_objects.py [BUILD_DIR]      # default: build/cp3XY-cp3XY-linux_x86_64

Checks the object files of a CMake build of nnmat (BUILD_DIR/CMakeFiles/**/*.o):

1. every object except the per-ISA translation units (*_avx2.cpp.o, *_avx512.cpp.o) is
   disassembled (objdump -d) and must contain no VEX/EVEX-encoded instruction (any `v...`
   mnemonic: AVX, AVX2, FMA, AVX-512, also on xmm registers), no %ymm / %zmm / mask (%k)
   register and no SSE3/SSSE3/SSE4/POPCNT/BMI instruction; the one exception is `xgetbv`
   in cpp/dispatch/cpu.cpp, executed only after CPUID reports OSXSAVE;
2. no function is defined as a weak (COMDAT, e.g. an inline or template instantiation)
   symbol both in a per-ISA object and in a portable one: the linker keeps one copy, and if
   it kept the AVX-compiled one, portable code would run AVX instructions on any CPU.

Exit status 0 when clean, 1 with the offending objects/instructions listed otherwise.
Run by tools/verify_wheel.sh on the build tree that tools/build_wheels.sh leaves behind.
"""
import collections
import glob
import os
import re
import subprocess
import sys
import sysconfig

ISA_TU = re.compile(r"_(avx2|avx512)\.cpp\.o$")
# AT&T syntax, as objdump prints it: "  401000:\t c5 fc 28 ...  \tvmovaps %ymm0,%ymm1"
INSN = re.compile(r"^\s*[0-9a-f]+:\t[0-9a-f ]+\t(?:\{\w+\}\s*)?([a-z][a-z0-9.]*)\s*(.*)$")
BEYOND_BASELINE_REG = re.compile(r"%ymm\d|%zmm\d|\{%k[0-7]\}|%k[0-7]\b")
# Non-VEX instructions newer than x86-64 baseline (SSE3, SSSE3, SSE4.1/4.2, POPCNT, LZCNT, BMI).
NEWER_SSE = re.compile(
    r"^(addsubp[sd]|haddp[sd]|hsubp[sd]|movddup|movs[hl]dup|lddqu|"
    r"pshufb|phaddw|phaddd|phaddsw|phsub[wd]|phsubsw|pmaddubsw|pmulhrsw|psign[bwd]|pabs[bwd]|palignr|"
    r"round[sp][sd]|blendv?p[sd]|pblendvb|pblendw|dpp[sd]|insertps|extractps|pextr[bdq]|pinsr[bdq]|"
    r"pmin[su][bdw]|pmax[su][bdw]|pmulld|pmuldq|ptest|pcmpeqq|pcmpgtq|packusdw|pmov[sz]x\w+|"
    r"movntdqa|mpsadbw|phminposuw|pcmp[ei]str[im]|crc32\w*|popcnt|lzcnt|tzcnt|andn|bextr|blsi|blsmsk|blsr|"
    r"bzhi|pdep|pext|rorx|sarx|shlx|shrx|mulx|adcx|adox|movbe)$"
)
ALLOWED = {("cpu.cpp.o", "xgetbv")}


def default_build_dir():
    tag = "cp{0}{1}".format(*sys.version_info[:2])
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return os.path.join("build", f"{tag}-{tag}-{plat}")


def disassembly_findings(obj):
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", obj], capture_output=True,
                         text=True, check=True).stdout
    findings = collections.Counter()
    func = "?"
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            func = m.group(1)
            continue
        m = re.match(r"^\s*[0-9a-f]+:\t(?:\{\w+\}\s*)?([a-z][a-z0-9.]*)\s*(.*)$", line)
        if not m:
            continue
        mnem, ops = m.groups()
        if (os.path.basename(obj), mnem) in ALLOWED:
            continue
        if mnem.startswith("v") and mnem not in ("verr", "verw") or BEYOND_BASELINE_REG.search(ops) \
                or NEWER_SSE.match(mnem):
            findings[(mnem, func)] += 1
    return findings


def weak_definitions(obj):
    out = subprocess.run(["nm", "--defined-only", obj], capture_output=True, text=True,
                         check=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        # W: weak symbol that is not a data object (V); DW.ref.*: the personality pointer (data).
        if len(parts) == 3 and parts[1] == "W" and not parts[2].startswith("DW.ref."):
            syms.add(parts[2])
    return syms


def main():
    build_dir = sys.argv[1] if len(sys.argv) > 1 else default_build_dir()
    objs = sorted(glob.glob(os.path.join(build_dir, "CMakeFiles", "**", "*.o"), recursive=True))
    if not objs:
        print(f"check_isa_objects: no object files under {build_dir}/CMakeFiles", file=sys.stderr)
        return 2
    portable = [o for o in objs if not ISA_TU.search(o)]
    per_isa = [o for o in objs if ISA_TU.search(o)]
    bad = 0
    for obj in portable:
        findings = disassembly_findings(obj)
        rel = os.path.relpath(obj, build_dir)
        if findings:
            bad += 1
            print(f"FAIL {rel}: {sum(findings.values())} instructions beyond x86-64 baseline")
            for (mnem, func), n in findings.most_common(10):
                print(f"       {n:5d} x {mnem:12s} in {func}")
    print(f"portable objects: {len(portable)} disassembled, {bad} with instructions beyond "
          f"x86-64 baseline")
    # The detector must see what it looks for: every per-ISA object has AVX instructions.
    blind = [o for o in per_isa if not disassembly_findings(o)]
    for obj in blind:
        print(f"FAIL detector sees no AVX instruction in {os.path.relpath(obj, build_dir)}")
    print(f"per-ISA objects: {len(per_isa)}, {len(per_isa) - len(blind)} with AVX instructions "
          f"found (detector sanity check)")
    bad += len(blind)

    portable_weak = {}
    for obj in portable:
        for s in weak_definitions(obj):
            portable_weak.setdefault(s, obj)
    shared = 0
    for obj in per_isa:
        common = weak_definitions(obj) & portable_weak.keys()
        # Data-only weak symbols (guard variables, vtables, typeinfo) carry no instructions.
        common = {s for s in common if not s.startswith(("_ZGV", "_ZTV", "_ZTI", "_ZTS"))}
        if common:
            shared += len(common)
            print(f"FAIL {os.path.relpath(obj, build_dir)} defines {len(common)} weak function(s) "
                  f"also defined by portable objects (the linker may keep the AVX copy):")
            names = subprocess.run(["c++filt"], input="\n".join(sorted(common)), text=True,
                                   capture_output=True).stdout.splitlines()
            for name in names[:10]:
                print(f"       {name}")
    print(f"weak functions defined both in a per-ISA object and a portable one: {shared}")
    ok = bad == 0 and shared == 0
    print("check_isa_objects: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
