// Bindings for configuration: ISA selection, threads, build facts, FMA peak probe.
#include <pybind11/pybind11.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "common/threading.h"
#include "dispatch/cpu.h"
#include "gemm/gemm.h"

#ifndef NNMAT_VERSION
#define NNMAT_VERSION "0.0.0"
#endif
#ifndef NNMAT_BUILD_TYPE
#define NNMAT_BUILD_TYPE "unknown"
#endif

namespace nnmat {
namespace py = pybind11;
namespace {

std::string compiler() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("gcc ") + __VERSION__;
#else
    return "unknown";
#endif
}

py::list compiled_isas() {
    py::list l;
    for (Isa i : {Isa::generic, Isa::avx2, Isa::avx512})
        if (isa_compiled(i)) l.append(isa_name(i));
    return l;
}

// Measured FMA throughput (GFLOP/s) of the current ISA on `threads` threads.
double fma_peak(const std::string& dtype, int threads, double seconds) {
    if (dtype != "float32" && dtype != "float64") throw py::value_error("dtype must be 'float32' or 'float64'");
    if (threads < 1) throw py::value_error("threads must be >= 1");
    if (in_forked_child()) threads = 1;   // no OpenMP pool after fork()
    if (!(seconds > 0)) throw py::value_error("seconds must be > 0");
    const KernelTable& kt = kernels();
    const bool f32 = dtype == "float32";
    auto probe = f32 ? kt.fma_probe_f32 : kt.fma_probe_f64;
    const double per_iter = double(f32 ? kt.fma_probe_flops_f32 : kt.fma_probe_flops_f64);
    py::gil_scoped_release nogil;
    using clock = std::chrono::steady_clock;
    // Calibrate on one thread so that one timed round lasts about `seconds`.
    int64_t iters = 1 << 16;
    for (;;) {
        const auto t0 = clock::now();
        volatile double sink = probe(iters);
        (void)sink;
        const double dt = std::chrono::duration<double>(clock::now() - t0).count();
        if (dt > seconds / 4 || iters > (int64_t(1) << 40)) {
            iters = int64_t(double(iters) * seconds / (dt > 0 ? dt : 1e-9)) + 1;
            break;
        }
        iters *= 4;
    }
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = clock::now();
        if (threads == 1) {
            volatile double sink = probe(iters);
            (void)sink;
        } else {
#pragma omp parallel num_threads(threads)
            {
                volatile double sink = probe(iters);
                (void)sink;
            }
        }
        const double dt = std::chrono::duration<double>(clock::now() - t0).count();
        const double g = per_iter * double(iters) * threads / dt / 1e9;
        if (g > best) best = g;
    }
    return best;
}

}  // namespace

void register_config(py::module_& m) {
    m.def("version", [] { return std::string(NNMAT_VERSION); });
    m.def("build_info", [] {
        py::dict d;
        d["compiler"] = compiler();
        d["build_type"] = NNMAT_BUILD_TYPE;
        d["openmp"] = openmp_runtime();
#ifdef _OPENMP
        d["openmp_version"] = int(_OPENMP);
#else
        d["openmp_version"] = py::none();
#endif
        d["isa_compiled"] = compiled_isas();
        d["cpu"] = cpu_brand();
        return d;
    });
    m.def("detected_isa", [] { return std::string(isa_name(detected_isa())); },
          "Best instruction set this CPU, its OS and this build support.");
    m.def("get_isa", [] { return std::string(isa_name(current_isa())); }, "Instruction set in use.");
    m.def("set_isa", [](const std::string& name) { set_isa(parse_isa(name)); }, py::arg("name"),
          "Select 'generic', 'avx2' or 'avx512' (not above detected_isa()).");
    m.def("kernel_shapes", [] {
        const KernelTable& kt = kernels();
        py::dict d;
        d["float32"] = py::make_tuple(kt.mr_f32, kt.nr_f32, kt.mr_packed_f32, kt.nr_packed_f32);
        d["float64"] = py::make_tuple(kt.mr_f64, kt.nr_f64, kt.mr_packed_f64, kt.nr_packed_f64);
        return d;
    });
    m.def("get_num_threads", &get_num_threads);
    m.def("in_forked_child", &in_forked_child);
    m.def("set_num_threads", &set_num_threads, py::arg("n"));
    m.def("get_thread_override", &thread_override);
    m.def("set_thread_override", &set_thread_override, py::arg("n"));
    m.def("fma_peak", &fma_peak, py::arg("dtype") = "float32", py::arg("threads") = 1,
          py::arg("seconds") = 0.2);
    m.def("set_gemm_blocking",
          [](int64_t mc, int64_t kc, int64_t nc) {
              if (mc < 0 || kc < 0 || nc < 0) throw py::value_error("block sizes must be >= 0");
              gemm_blocking_override() = GemmBlockingOverride{mc, kc, nc};
          },
          py::arg("mc") = 0, py::arg("kc") = 0, py::arg("nc") = 0,
          "Tuning only: override the GEMM cache blocking (0 = default).");
}

}  // namespace nnmat
