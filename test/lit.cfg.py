# -*- Python -*-
# lit configuration of milm's FileCheck suite.
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "milm"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["unit", "fuzz", "lib", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.milm_obj_root, "test")

config.substitutions.append(("%fixtures", config.milm_fixtures_dir))
config.substitutions.append(("%srcroot", config.milm_src_root))
config.substitutions.append(("%objroot", config.milm_obj_root))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    ["milm-opt", "milmc", "milm-translate"], [config.milm_tools_dir])
llvm_config.add_tool_substitutions(["FileCheck", "not", "count", "split-file"],
                                   [config.llvm_tools_dir])

# x86-avx2: the host's CPU runs milm's AVX2 kernels (AVX2, FMA, F16C), so
# `--target host` picks them (and the q4_0x8 repacking that goes with them).
try:
    import platform
    with open("/proc/cpuinfo") as f:
        flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    if platform.machine() in ("x86_64", "AMD64") and {"avx2", "fma", "f16c"} <= set(flags):
        config.available_features.add("x86-avx2")
        # x86-avx512: `--target host` picks the AVX-512 kernels (F/BW/VL/DQ + VNNI).
        if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"} <= set(flags):
            config.available_features.add("x86-avx512")
    # host-lacks-cpu: an LLVM CPU name with an ISA feature this CPU lacks, for
    # the test that such a binary refuses to start: (CPU, /proc/cpuinfo flag,
    # LLVM feature name).
    if platform.machine() in ("x86_64", "AMD64"):
        for cpu, flag, feature in (("skylake-avx512", "avx512f", "avx512f"),
                                   ("cascadelake", "avx512_vnni", "avx512vnni"),
                                   ("tigerlake", "avx512_vp2intersect", "avx512vp2intersect"),
                                   ("sapphirerapids", "avx512_fp16", "avx512fp16"),
                                   ("sierraforest", "avx_ifma", "avxifma")):
            if flag not in flags:
                config.available_features.add("host-lacks-cpu")
                config.substitutions.append(("%cpu_host_lacks", cpu))
                config.substitutions.append(("%feature_host_lacks", feature))
                break
except OSError:
    pass

# valgrind: tests that run a compiler pass under memcheck (scripts/setup.sh
# installs it; without it they are reported unsupported, not passed).
import shutil
if shutil.which("valgrind"):
    config.available_features.add("valgrind")

# qemu-hexagon: the Hexagon builds' tests run their milm-run-hexagon under it
# (scripts/setup.sh installs qemu-user); without it they are reported
# unsupported, not passed.
if shutil.which("qemu-hexagon"):
    config.available_features.add("qemu-hexagon")

# python3-regex: Debian's `regex` module for /usr/bin/python3 (scripts/setup.sh
# installs it), which the pre-tokenizer vector generator needs; without it the
# test that regenerates the vectors is reported unsupported, not passed.
import subprocess
try:
    if subprocess.run(["/usr/bin/python3", "-c", "import regex"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode == 0:
        config.available_features.add("python3-regex")
except OSError:
    pass
