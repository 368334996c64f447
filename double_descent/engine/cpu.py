"""The one CPU that the numba kernels are compiled for, and the explicit call that pins it.

With fast-math, LLVM vectorises the kernel's reductions as wide as the CPU allows, so an AVX-512
CPU and an AVX2 CPU add the same numbers in a different order: after 50,000 steps the sweep's
peak moved by about 1% (193.915 against 192.361). Compiling for one fixed level (x86-64-v3,
without the host's extra features) gives the m = 2 kernel bitwise the same weights on every
x86-64 CPU that has it, so the notebook's stored tables hold on any such machine with the same
numba and torch. Other x86 CPUs get the baseline level and ARM its own code (:data:`NUMBA_CPU`
is None: the host CPU), so their last digits may differ. An explicit ``NUMBA_CPU_NAME`` in the
environment wins.

Importing the engine changes nothing: :func:`pin_numba_cpu` sets ``numba.config.CPU_NAME`` and
``CPU_FEATURES`` when the engine first needs its kernels. numba fixes its compiler's CPU when it
sets up its CPU target, which it does when the first ``@njit`` function of the process is
*created* (decorated), not when it is compiled; so the engine imports its kernel modules only
through :func:`numba_module`, which pins first. Whichever of numba and the engine is imported
first, the kernels are compiled for :data:`NUMBA_CPU`.

If something else created a numba function before the engine loaded its kernels, numba's target
is already set up for whatever CPU its config named then (the host's, by default): the pin can
no longer take effect, so :func:`pin_numba_cpu` leaves numba's config as it is (numba's on-disk
cache then files the kernels under the CPU they were really compiled for) and warns. Call
:func:`pin_numba_cpu` before creating numba functions of your own to keep the pin.
"""

import importlib
import os
import warnings
from types import ModuleType

import llvmlite.binding as llvm
import numba
from numba.core.registry import cpu_target

X86_64_V3 = ("avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave")
"""CPU features of the x86-64-v3 level (AVX2 + FMA: x86 CPUs since 2013-2015)."""

KERNEL_MODULES = ("kernels", "bound", "parallel")
"""The engine's modules of numba functions (importing one sets up numba's compiler)."""


def pinned_cpu() -> str | None:
    """The CPU to compile for: the user's ``NUMBA_CPU_NAME``, else x86-64-v3 on an x86-64 host
    that has it, the x86-64 baseline on one that lacks it, and None (the host CPU) elsewhere."""
    if "NUMBA_CPU_NAME" in os.environ:
        return os.environ["NUMBA_CPU_NAME"]
    if llvm.get_process_triple().split("-")[0] not in ("x86_64", "amd64"):
        return None
    features = llvm.get_host_cpu_features()
    return "x86-64-v3" if all(features.get(f, False) for f in X86_64_V3) else "x86-64"


NUMBA_CPU: str | None = pinned_cpu()
"""The CPU that the engine's kernels are compiled for in this process (None: the host's)."""


def _target_is_set_up() -> bool:
    """Whether numba has already created its CPU target (and so fixed the CPU it compiles for)."""
    return "_toplevel_target_context" in vars(cpu_target)


def pin_numba_cpu() -> None:
    """Make numba compile for :data:`NUMBA_CPU`, with none of the host's extra features.

    Does nothing when the user set ``NUMBA_CPU_NAME`` (numba read it itself), off x86-64, or when
    numba is already pinned. Warns, and leaves numba as it is, when numba's target was set up
    for another CPU before this call (see the module docstring).
    """
    if NUMBA_CPU is None or "NUMBA_CPU_NAME" in os.environ:
        return
    if (numba.config.CPU_NAME, numba.config.CPU_FEATURES) == (NUMBA_CPU, ""):
        return
    if _target_is_set_up():
        warnings.warn(
            f"numba compiled a function before the sweep engine pinned its CPU, so the engine's "
            f"kernels are compiled for {numba.config.CPU_NAME or 'the host CPU'} instead of "
            f"{NUMBA_CPU}: results may differ from the stored ones in their last digits. Call "
            "double_descent.engine.cpu.pin_numba_cpu() before creating numba functions.",
            stacklevel=2,
        )
        return
    numba.config.CPU_NAME, numba.config.CPU_FEATURES = NUMBA_CPU, ""


def numba_module(name: str) -> ModuleType:
    """The engine's numba module ``name`` (one of :data:`KERNEL_MODULES`), imported after
    :func:`pin_numba_cpu`."""
    if name not in KERNEL_MODULES:
        raise ValueError(f"name: got {name!r}, expected one of {KERNEL_MODULES}")
    pin_numba_cpu()
    return importlib.import_module(f"double_descent.engine.{name}")
