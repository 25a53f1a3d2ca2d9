// The portable GEMM driver (Goto/BLIS five loops, packing, threading), compiled
// once per ISA. Each per-ISA translation unit defines NNMAT_ISA_NS, includes its
// simd header, defines GemmShape<float> and GemmShape<double>, then this file.
#pragma once
#include <cstdint>
#include <cstring>
#include <new>

#include "common/threading.h"
#include "dispatch/kernel_table.h"
#include "gemm/gemm.h"
#include "gemm/microkernel.h"

namespace nnmat {
namespace NNMAT_ISA_NS {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

#ifndef NNMAT_GEMM_HAS_TRANSPOSE
// An L x L block (L = Vec<T>::lanes) transposed: dst[q * ldd + c] = src[c * lds + q].
// Portable version through an aligned tile; the AVX files define register shuffles.
template <class T>
inline void transpose_block(const T* __restrict src, int64_t lds, T* __restrict dst, int64_t ldd) {
    using V = Vec<T>;
    constexpr int L = V::lanes;
    alignas(64) T tmp[L][L];
#pragma GCC unroll 16
    for (int c = 0; c < L; ++c) V::store(tmp[c], V::load(src + c * lds));
#pragma GCC unroll 16
    for (int q = 0; q < L; ++q)
#pragma GCC unroll 16
        for (int c = 0; c < L; ++c) dst[q * ldd + c] = tmp[c][q];
}
#endif

// The blocked algorithm around one micro-kernel shape (MR_ rows x NV_ vectors).
template <class T, int MR_, int NV_>
struct GemmImpl {
    using V = Vec<T>;
    static constexpr int MR = MR_;
    static constexpr int NV = NV_;
    static constexpr int NR = NV * V::lanes;
    // Direct path with at most this many rows: A is packed once (if at all) and
    // each column strip of B is reused, hot in L1, by every row block.
    static constexpr int64_t kFewRows = 8 * MR;

    struct Blocking { int64_t mc, kc, nc; };
    static Blocking blocking() {
        const GemmBlockingOverride& o = gemm_blocking_override();
        Blocking b{GemmShape<T>::MC, GemmShape<T>::KC, GemmShape<T>::NC};
        if (o.mc > 0) b.mc = o.mc;
        if (o.kc > 0) b.kc = o.kc;
        if (o.nc > 0) b.nc = o.nc;
        // Whole micro-panels: the packing buffers are sized from these.
        b.mc = ceil_div(b.mc, MR) * MR;
        b.nc = ceil_div(b.nc, NR) * NR;
        return b;
    }

    // Runs the micro-kernel instantiated for exactly `rows` rows (1..MR).
    template <int R, bool P>
    static inline void kernel_rows(int64_t rows, int64_t k, const T* a, int64_t lda, const T* b,
                                   int64_t ldb, const Tile<T>& t) {
        if constexpr (R > 0) {
            if (rows == R) ukernel<T, MR, R, NV, P>(k, a, lda, b, ldb, t);
            else kernel_rows<R - 1, P>(rows, k, a, lda, b, ldb, t);
        }
    }

    // One vector of a run of c elements at p (c may be <= 0 or beyond a vector):
    // whole when c >= lanes, else the first c lanes (reading nothing past them)
    // and zeros.
    static inline typename V::reg load_run(const T* p, int64_t c) {
        return c >= V::lanes ? V::load(p) : c > 0 ? V::load_partial(p, c) : V::zero();
    }

    // op(A) block (mb x kb) -> micro-panels of MR rows: dst[panel][p][r], zero-padded.
    static void pack_a(int64_t mb, int64_t kb, const T* a, int64_t rsa, int64_t csa, T* dst) {
        if (rsa == 1 && mb > 0) {
            // Column-major A (e.g. the transpose of a row-major matrix, as in a Gram
            // product X.T @ X): column p of the block is contiguous. Walk the columns
            // once, each feeding every panel, so that memory is read as one
            // sequential stream (panel by panel would read it once per panel, each
            // pass strided).
            const int64_t full = mb / MR, rest = mb - full * MR;
            for (int64_t p = 0; p < kb; ++p) {
                const T* __restrict s = a + p * csa;
                T* __restrict d = dst + p * MR;
                for (int64_t i = 0; i < full; ++i) std::memcpy(d + i * kb * MR, s + i * MR, MR * sizeof(T));
                if (rest) {
                    // The last, partial panel: `rest` elements by partial vector
                    // loads (never past the column), zero-padded to MR in registers
                    // and stored whole: the same few instructions for every column,
                    // however close the columns are (a 2e6 x 4 Gram product packs
                    // 2e6 such columns). A vector reaching past this column's MR
                    // elements is stored whole too (the next column overwrites the
                    // surplus), except for the last column.
                    constexpr int L = V::lanes, NT = (MR + L - 1) / L;
                    const T* sr = s + full * MR;
                    T* dr = d + full * kb * MR;
#pragma GCC unroll 4
                    for (int v = 0; v < NT; ++v) {
                        const auto x = load_run(sr + v * L, rest - v * L);
                        if ((v + 1) * L <= MR || p + 1 < kb) V::store(dr + v * L, x);
                        else V::store_partial(dr + v * L, x, MR - v * L);
                    }
                }
            }
            return;
        }
        for (int64_t i = 0; i < mb; i += MR, dst += kb * MR) {
            const int64_t rows = imin(MR, mb - i);
            const T* src = a + i * rsa;
            if (rows == MR && csa == 1) {
                // Row-major A: read each row a vector (one cache line) at a time into
                // a small tile, then write the tile out transposed. Every line is used
                // as soon as it arrives, so rows that share L1 sets (4 KiB apart) do
                // not evict each other between uses.
                constexpr int L = V::lanes;
                alignas(64) T tmp[MR][L];
                int64_t p = 0;
                for (; p + L <= kb; p += L) {
#pragma GCC unroll 16
                    for (int r = 0; r < MR; ++r) V::store(tmp[r], V::load(src + r * rsa + p));
                    for (int q = 0; q < L; ++q)
#pragma GCC unroll 16
                        for (int r = 0; r < MR; ++r) dst[(p + q) * MR + r] = tmp[r][q];
                }
                for (; p < kb; ++p)
                    for (int r = 0; r < MR; ++r) dst[p * MR + r] = src[r * rsa + p];
            } else if (rows == MR) {
                for (int64_t p = 0; p < kb; ++p)
                    for (int r = 0; r < MR; ++r) dst[p * MR + r] = src[r * rsa + p * csa];
            } else {
                for (int64_t p = 0; p < kb; ++p) {
                    for (int64_t r = 0; r < rows; ++r) dst[p * MR + r] = src[r * rsa + p * csa];
                    for (int64_t r = rows; r < MR; ++r) dst[p * MR + r] = T(0);
                }
            }
        }
    }

    // op(B) block (kb x nb) -> micro-panels of NR columns: dst[panel][p][j], zero-padded.
    static void pack_b(int64_t kb, int64_t nb, const T* b, int64_t rsb, int64_t csb, T* dst) {
        if (csb == 1) {
            // Row-major B: walk the rows in bands of 4, so that reads are 4
            // sequential streams and writes are 4*NR contiguous elements per panel
            // (one row at a time would scatter writes over every panel's pages; more
            // rows than L1 ways would collide in one set when rows are 4 KiB apart).
            const int64_t full = nb / NR;
            constexpr int64_t kBand = 4;
            for (int64_t p0 = 0; p0 < kb; p0 += kBand) {
                const int64_t pe = imin(kb, p0 + kBand);
                for (int64_t jp = 0; jp < full; ++jp) {
                    T* __restrict d = dst + jp * kb * NR;
                    for (int64_t p = p0; p < pe; ++p) {
                        const T* __restrict src = b + p * rsb + jp * NR;
#pragma GCC unroll 8
                        for (int v = 0; v < NV; ++v) V::store(d + p * NR + v * V::lanes, V::load(src + v * V::lanes));
                    }
                }
            }
            if (full * NR == nb) return;
            b += full * NR;
            dst += full * kb * NR;
            nb -= full * NR;
        }
        if (rsb == 1) {
            // Column-major B (the transpose of a row-major matrix, e.g. a linear
            // layer's weight): each column is a contiguous run over p. Read L values
            // of each column with one vector load and transpose L x L blocks in
            // registers, so every cache line is used whole as it arrives and the
            // panel is written a full row at a time.
            constexpr int L = V::lanes;
            for (int64_t j = 0; j < nb; j += NR, dst += kb * NR) {
                const int64_t cols = imin(NR, nb - j);
                const T* src = b + j * csb;
                int64_t p = 0;
                if (cols == NR) {
                    for (; p + L <= kb; p += L)
#pragma GCC unroll 8
                        for (int v = 0; v < NV; ++v)
                            transpose_block(src + v * L * csb + p, csb, dst + p * NR + v * L, NR);
                } else {
                    // Ragged last panel: groups of L columns; a partial group goes
                    // through a zero-padded tile (never reading past the matrix).
                    alignas(64) T tmp[L][L];
                    for (int c = 0; c < L; ++c) V::store(tmp[c], V::zero());
                    for (; p + L <= kb; p += L) {
                        for (int64_t c0 = 0; c0 < NR; c0 += L) {
                            T* d = dst + p * NR + c0;
                            if (c0 + L <= cols) {
                                transpose_block(src + c0 * csb + p, csb, d, NR);
                            } else if (c0 < cols) {
                                for (int64_t c = c0; c < cols; ++c) V::store(tmp[c - c0], V::load(src + c * csb + p));
                                transpose_block(&tmp[0][0], L, d, NR);
                            } else {
                                for (int q = 0; q < L; ++q) V::store(d + q * NR, V::zero());
                            }
                        }
                    }
                }
                for (; p < kb; ++p) {
                    for (int64_t c = 0; c < cols; ++c) dst[p * NR + c] = src[c * csb + p];
                    for (int64_t c = cols; c < NR; ++c) dst[p * NR + c] = T(0);
                }
            }
            return;
        }
        for (int64_t j = 0; j < nb; j += NR, dst += kb * NR) {
            const int64_t cols = imin(NR, nb - j);
            const T* src = b + j * csb;
            if (cols == NR) {
                for (int64_t p = 0; p < kb; ++p)
                    for (int c = 0; c < NR; ++c) dst[p * NR + c] = src[p * rsb + c * csb];
            } else if (csb == 1) {
                // Ragged last panel of a row-major B: each row's `cols` elements by
                // whole and partial vector loads (never past the row), zeros after,
                // written as NR contiguous elements: the same few instructions per
                // row, however close the rows are (an n = 4 Gram product packs
                // millions of 4-element rows).
                constexpr int L = V::lanes;
                for (int64_t p = 0; p < kb; ++p) {
                    T* __restrict d = dst + p * NR;
                    const T* __restrict s = src + p * rsb;
#pragma GCC unroll 8
                    for (int v = 0; v < NV; ++v) V::store(d + v * L, load_run(s + v * L, cols - v * L));
                }
            } else {
                for (int64_t p = 0; p < kb; ++p) {
                    for (int64_t c = 0; c < cols; ++c) dst[p * NR + c] = src[p * rsb + c * csb];
                    for (int64_t c = cols; c < NR; ++c) dst[p * NR + c] = T(0);
                }
            }
        }
    }

    static Tile<T> tile(const GemmProblem<T>& P, int64_t i, int64_t j, int64_t rows, int64_t cols,
                        T beta, const T* bias) {
        const bool prefetch_c = P.m * P.n * int64_t(sizeof(T)) > (int64_t(1) << 18);
        return Tile<T>{P.c + i * P.rsc + j * P.csc, P.rsc, P.csc, rows, cols, P.alpha, beta,
                       bias ? bias + j * P.bias_stride : nullptr, P.bias_stride, prefetch_c};
    }

    // Direct path: B is read in place when it has unit column stride, else packed
    // once per call (a column strip at a time for few rows, whole otherwise: then
    // it is small); A in place too when a_in_place() allows, else packed per row
    // block. No k-blocking. Used when packing B for the packed path would cost as
    // much as the product (few rows) or when B is small enough to stay in cache
    // while A streams past it: L2 for the wide AVX-512 tile (2 B lines per 24 FMA
    // cycles), L1 for narrower tiles, whose higher load rate cannot hide L2
    // latency on strided B rows.
    //
    // The direct path has no k-blocking, so its scratch (packed A panels, packed B
    // strips) grows with k; above kDirectScratchBytes the packed path, whose
    // panels are kc deep, is used instead (e.g. a 10 x 10 Gram matrix of a
    // transposed 2e6 x 10 matrix: 450 MB of scratch on the direct path).
    static constexpr int64_t kDirectScratchBytes = int64_t(16) << 20;
    static bool use_direct(const GemmProblem<T>& P) {
        if ((direct_a_elems(P) + direct_b_elems(P)) * int64_t(sizeof(T)) > kDirectScratchBytes) return false;
        if (P.m <= 4 * MR) return true;
        return P.csa == 1 && P.k * P.n * int64_t(sizeof(T)) <= GemmShape<T>::DIRECT_B_BYTES;
    }

    // Row-major A is read in place, without packing, unless its row stride is a
    // multiple of 4 KiB: then the MR rows read together map to one L1 set and
    // evict each other, and a packed copy is faster.
    static bool a_in_place(const GemmProblem<T>& P) {
        return P.csa == 1 && P.rsa > 0 && (P.rsa * int64_t(sizeof(T))) % 4096 != 0;
    }

    // Elements of the A scratch of serial_direct: every row panel at once for
    // few rows (ceil(m / MR) panels, or ceil(m / min(MR, 8)) when streaming),
    // one panel for a tall A; none when A is read in place.
    static int64_t direct_a_elems(const GemmProblem<T>& P) {
        if (a_in_place(P)) return 0;
        const int64_t panels = P.m <= kFewRows ? ceil_div(P.m, imin(MR, 8)) : 1;
        return panels * MR * P.k;
    }

    // Elements of the B scratch of serial_direct (for the whole problem: a
    // thread's block needs no more).
    static int64_t direct_b_elems(const GemmProblem<T>& P) {
        if (P.csb != 1) return (P.m <= kFewRows ? 1 : ceil_div(P.n, NR)) * NR * P.k;
        return P.n % NR ? int64_t(NR) * P.k : 0;
    }

    static void serial_direct(const GemmProblem<T>& P, T* abuf, T* bbuf) {
        // B without unit column stride: packed into NR-column panels (ldb = NR),
        // one strip before its use for few rows, else all of it now.
        const bool bpack = P.csb != 1;
        const int64_t n_full = P.n / NR * NR;
        if (bpack) {
            if (P.m > kFewRows) pack_b(P.k, P.n, P.b, P.rsb, P.csb, bbuf);
        } else if (n_full < P.n) {
            pack_b(P.k, P.n - n_full, P.b + n_full * P.csb, P.rsb, P.csb, bbuf);
        }
        const bool inplace = a_in_place(P);
        // Rows in equal blocks of at most MR (8 rows on a 6-row kernel: 4 + 4,
        // not 6 + a latency-bound 2). A tall A streamed from memory uses blocks of
        // at most 8 rows: fewer row pointers in registers, a smaller C tile to fetch.
        const bool streaming = P.m * P.k * int64_t(sizeof(T)) > (int64_t(1) << 19);
        const int64_t rb = (P.m <= 4 * MR || !streaming) ? ceil_div(P.m, ceil_div(P.m, MR)) : imin(MR, 8);
        auto step = [&](int64_t i, int64_t j, const T* apanel) {
            const int64_t rows = imin(rb, P.m - i), cols = imin(NR, P.n - j);
            const T* bp = bpack ? (P.m > kFewRows ? bbuf + j * P.k : bbuf) : cols == NR ? P.b + j : bbuf;
            const int64_t ldb = !bpack && cols == NR ? P.rsb : NR;
            const Tile<T> t = tile(P, i, j, rows, cols, P.beta, P.bias);
            if (inplace) kernel_rows<MR, false>(rows, P.k, P.a + i * P.rsa, P.rsa, bp, ldb, t);
            else kernel_rows<MR, true>(rows, P.k, apanel, MR, bp, ldb, t);
        };
        if (P.m <= kFewRows) {
            // Few rows: pack A once (at most kFewRows / MR panels); each column strip
            // of B is read once from memory and reused, hot in L1, by every row block.
            if (!inplace)
                for (int64_t i = 0, q = 0; i < P.m; i += rb, ++q)
                    pack_a(imin(rb, P.m - i), P.k, P.a + i * P.rsa, P.rsa, P.csa, abuf + q * MR * P.k);
            for (int64_t j = 0; j < P.n; j += NR) {
                if (bpack) pack_b(P.k, imin(NR, P.n - j), P.b + j * P.csb, P.rsb, P.csb, bbuf);
                for (int64_t i = 0, q = 0; i < P.m; i += rb, ++q) step(i, j, abuf + q * MR * P.k);
            }
            if (P.epilogue) P.epilogue(P.c, P.m, P.n, P.rsc, P.epilogue_ctx);
            return;
        }
        // Tall A (B stays in cache). In place and streamed from memory: fetch the
        // next row block into L2 while this one is multiplied (its rows are read
        // column by column, which the hardware prefetcher does not anticipate).
        // Else: pack each block.
        for (int64_t i = 0; i < P.m; i += rb) {
            if (!inplace) {
                pack_a(imin(rb, P.m - i), P.k, P.a + i * P.rsa, P.rsa, P.csa, abuf);
            } else if (streaming) {
                for (int64_t r = i + rb; r < imin(P.m, i + 2 * rb); ++r) {
                    const char* row = reinterpret_cast<const char*>(P.a + r * P.rsa);
                    for (int64_t off = 0; off < P.k * int64_t(sizeof(T)); off += 64) __builtin_prefetch(row + off, 0, 1);
                }
            }
            for (int64_t j = 0; j < P.n; j += NR) step(i, j, abuf);
            // This row block of C is final and still in cache.
            if (P.epilogue) P.epilogue(P.c + i * P.rsc, imin(rb, P.m - i), P.n, P.rsc, P.epilogue_ctx);
        }
    }

    // A region of memory to prefetch in slices during a run of micro-kernel calls:
    // `rows` rows of `bytes` bytes, `stride` bytes apart (see Tile::pf).
    struct PrefetchRegion {
        const char* base = nullptr;
        int64_t stride = 0, row_lines = 1, lines = 0;
        static PrefetchRegion rows_of(const T* p, int64_t rows, int64_t bytes, int64_t stride) {
            PrefetchRegion r;
            r.base = reinterpret_cast<const char*>(p);
            r.stride = stride;
            const bool aligned = reinterpret_cast<uintptr_t>(p) % 64 == 0 && stride % 64 == 0;
            r.row_lines = ceil_div(bytes, 64) + (aligned ? 0 : 1);
            r.lines = rows * r.row_lines;
            return r;
        }
        // Slice q of `parts` (equal shares of the lines) into a tile.
        void slice(int64_t q, int64_t parts, Tile<T>& t) const {
            if (lines <= 0) return;
            const int64_t share = ceil_div(lines, parts), first = q * share;
            if (first >= lines) return;
            const int64_t row = first / row_lines;
            t.pf = base + row * stride;
            t.pf_stride = stride;
            t.pf_row_lines = row_lines;
            t.pf_col = first - row * row_lines;
            t.pf_count = imin(share, lines - first);
        }
    };

    // The source of B's column panel starting at column j (kb x cols), for the
    // prefetcher: rows of a row-major B, columns of a column-major one.
    static PrefetchRegion b_source(const T* b, int64_t kb, int64_t cols, int64_t rsb, int64_t csb) {
        const int64_t es = int64_t(sizeof(T));
        if (csb == 1) return PrefetchRegion::rows_of(b, kb, cols * es, rsb * es);
        if (rsb == 1) return PrefetchRegion::rows_of(b, cols, kb * es, csb * es);
        return PrefetchRegion{};
    }

    static void serial_packed(const GemmProblem<T>& P, const Blocking& bl, T* abuf, T* bbuf) {
        // Packing an A panel costs about one micro-kernel call; with few column
        // panels to amortise it over, reading A in place is faster.
        const bool inplace = a_in_place(P) && P.n <= 16 * NR;
        const int64_t es = int64_t(sizeof(T));
        for (int64_t jc = 0; jc < P.n; jc += bl.nc) {
            const int64_t nb = imin(bl.nc, P.n - jc);
            for (int64_t pc = 0; pc < P.k; pc += bl.kc) {
                const int64_t kb = imin(bl.kc, P.k - pc);
                const T* bblock = P.b + pc * P.rsb + jc * P.csb;
                const T beta = pc == 0 ? P.beta : T(1);
                const bool last = pc + kb == P.k;
                const T* bias = last ? P.bias : nullptr;
                for (int64_t ic = 0; ic < P.m; ic += bl.mc) {
                    const int64_t mb = imin(bl.mc, P.m - ic);
                    const T* ablock = P.a + ic * P.rsa + pc * P.csa;
                    if (!inplace) pack_a(mb, kb, ablock, P.rsa, P.csa, abuf);
                    const int64_t calls = ceil_div(mb, MR);
                    // The first row block packs each B panel just before it uses it,
                    // while the source of the next one is being prefetched (the
                    // copy then reads L2, not memory); later row blocks reuse the
                    // packed panels.
                    const bool packing = ic == 0;
                    for (int64_t jr = 0; jr < nb; jr += NR) {
                        const int64_t cols = imin(NR, nb - jr);
                        if (packing) pack_b(kb, cols, bblock + jr * P.csb, P.rsb, P.csb, bbuf + jr * kb);
                        // What the next panel needs, fetched a slice per call: its
                        // source while the first row block packs, else the packed
                        // panel (for the last panel: the first, for the next row block).
                        PrefetchRegion next;
                        if (jr + NR < nb) {
                            if (packing) next = b_source(bblock + (jr + NR) * P.csb, kb, imin(NR, nb - jr - NR), P.rsb, P.csb);
                            else next = PrefetchRegion::rows_of(bbuf + (jr + NR) * kb, 1, kb * NR * es, 0);
                        } else if (ic + mb < P.m) {
                            next = PrefetchRegion::rows_of(bbuf, 1, kb * NR * es, 0);
                        }
                        for (int64_t ir = 0; ir < mb; ir += MR) {
                            const int64_t rows = imin(MR, mb - ir);
                            Tile<T> t = tile(P, ic + ir, jc + jr, rows, cols, beta, bias);
                            next.slice(ir / MR, calls, t);
                            if (inplace)
                                kernel_rows<MR, false>(rows, kb, ablock + ir * P.rsa, P.rsa, bbuf + jr * kb, NR, t);
                            else
                                kernel_rows<MR, true>(rows, kb, abuf + ir * kb, MR, bbuf + jr * kb, NR, t);
                        }
                    }
                    // The mb x nb block of C is final (last k block) and still in L2.
                    if (last && P.epilogue) P.epilogue(P.c + ic * P.rsc + jc, mb, nb, P.rsc, P.epilogue_ctx);
                }
            }
        }
    }

    // Splits C into a tm x tn grid of blocks (whole micro-tiles each), choosing
    // the grid that minimises the data each thread packs.
    static void choose_grid(const GemmProblem<T>& P, int nt, int& tm, int& tn) {
        const int64_t mu = ceil_div(P.m, MR), nu = ceil_div(P.n, NR);
        tm = 1; tn = 1;
        double best = -1;
        for (int t = nt; t >= 1; --t) {
            for (int a = 1; a <= t; ++a) {
                if (t % a) continue;
                const int b = t / a;
                if (a > mu || b > nu) continue;
                const double cost = double(ceil_div(mu, a) * MR) + double(ceil_div(nu, b) * NR);
                if (best < 0 || cost < best) { best = cost; tm = a; tn = b; }
            }
            if (best >= 0) return;
        }
    }

    // `direct` is decided on the whole problem (Gemm::run), never per thread block.
    static void run(const GemmProblem<T>& P, int nthreads, bool direct) {
        Blocking bl = blocking();
        // k in equal blocks of at most kc (k = 784 with kc = 256: 4 x 196, not
        // 3 x 256 + a 16-deep block that costs a whole pass over C and the packing
        // of its panels for little work). Decided on k alone, as every blocking is,
        // so results stay independent of the thread count.
        bl.kc = imax(1, ceil_div(P.k, imax(1, ceil_div(P.k, bl.kc))));
        int nt = threads_for_flops(2.0 * double(P.m) * double(P.n) * double(P.k), nthreads);
        int tm = 1, tn = 1;
        if (nt > 1) choose_grid(P, nt, tm, tn);
        nt = tm * tn;

        // Per-thread scratch: A panels and B panels, carved from the caller's workspace.
        int64_t a_elems, b_elems;
        if (direct) {
            a_elems = direct_a_elems(P);
            b_elems = direct_b_elems(P);
        } else {
            a_elems = bl.mc * imin(bl.kc, P.k);
            b_elems = imin(bl.kc, P.k) * ceil_div(imin(bl.nc, P.n), NR) * NR;
        }
        a_elems = ceil_div(a_elems, 64) * 64;
        b_elems = ceil_div(b_elems, 64) * 64;
        const double bytes = double(a_elems + b_elems) * double(sizeof(T)) * nt;
        if (bytes > 9.0e18) throw std::bad_alloc();
        T* ws = static_cast<T*>(thread_workspace(std::size_t((a_elems + b_elems) * nt) * sizeof(T)));

        auto block = [&](int t) {
            const int ti = t / tn, tj = t % tn;
            const int64_t mu = ceil_div(P.m, MR), nu = ceil_div(P.n, NR);
            const int64_t r0 = imin(P.m, (mu * ti / tm) * MR), r1 = imin(P.m, (mu * (ti + 1) / tm) * MR);
            const int64_t c0 = imin(P.n, (nu * tj / tn) * NR), c1 = imin(P.n, (nu * (tj + 1) / tn) * NR);
            if (r1 <= r0 || c1 <= c0) return;
            GemmProblem<T> S = P;
            S.m = r1 - r0; S.n = c1 - c0;
            S.a = P.a + r0 * P.rsa;
            S.b = P.b + c0 * P.csb;
            S.c = P.c + r0 * P.rsc + c0 * P.csc;
            if (P.bias) S.bias = P.bias + c0 * P.bias_stride;
            T* abuf = ws + int64_t(t) * (a_elems + b_elems);
            T* bbuf = abuf + a_elems;
            if (direct) serial_direct(S, abuf, bbuf);
            else serial_packed(S, bl, abuf, bbuf);
        };
        if (nt == 1) { block(0); return; }
#pragma omp parallel num_threads(nt)
        {
            const int team = omp_team_size();
            for (int t = omp_thread_id(); t < nt; t += team) block(t);
        }
    }
};

// Entry point: the direct path uses the ISA's small-problem tile, the packed
// path its large-problem tile. Both compute every element of C by the same
// chain of fused multiply-adds (only the blocking of k matters, and it is fixed
// per path), so the choice of tile never changes a result.
template <class T>
struct Gemm {
    using Direct = GemmImpl<T, GemmShape<T>::MR, GemmShape<T>::NV>;
    using Packed = GemmImpl<T, GemmShape<T>::MR_PACKED, GemmShape<T>::NV_PACKED>;
    // A few rows more than one tile holds (MR < m <= 2 MR) are split into two
    // blocks of fewer rows; a tile with more columns keeps enough accumulators
    // per block to cover the FMA latency (AVX2: 8 rows as 4 + 4 on 4 x 24, not on
    // 6 x 16 with 8 accumulators; measured 1.2x float32, 1.5x float64 on 8x512x512).
    using Few = GemmImpl<T, GemmShape<T>::MR_FEW, GemmShape<T>::NV_FEW>;
    // At most one vector of columns (n <= lanes), on either path: a tile one
    // vector wide. The direct path then reads B in place and writes C with full
    // vectors instead of packing a zero-padded strip and writing an edge tile
    // element by element; the packed path packs and multiplies no empty columns.
    static constexpr bool kNarrow = GemmShape<T>::NV >= 2;
    using Narrow = GemmImpl<T, GemmShape<T>::MR, 1>;

    // C = beta * C (+ bias): the product term vanishes (k == 0 or alpha == 0).
    static void scale_c(const GemmProblem<T>& P) {
        for (int64_t i = 0; i < P.m; ++i) {
            T* cr = P.c + i * P.rsc;
            for (int64_t j = 0; j < P.n; ++j) {
                T x = P.beta == T(0) ? T(0) : P.beta * cr[j * P.csc];
                if (P.bias != nullptr) x = x + P.bias[j * P.bias_stride];
                cr[j * P.csc] = x;
            }
        }
        if (P.epilogue) P.epilogue(P.c, P.m, P.n, P.rsc, P.epilogue_ctx);
    }

    static void run(const GemmProblem<T>& P, int nthreads) {
        if (P.m <= 0 || P.n <= 0) return;
        if (P.k <= 0 || P.alpha == T(0)) { scale_c(P); return; }
        const bool direct = Direct::use_direct(P);
        if (kNarrow && P.n <= Vec<T>::lanes) Narrow::run(P, nthreads, direct);
        else if (!direct) {
            // Few columns: the packed path with whichever tile wastes fewer of its
            // columns (float64 on AVX-512: 32 columns are two 16-wide panels, not
            // a 24-wide one and a third-full one).
            const int64_t waste_packed = ceil_div(P.n, Packed::NR) * Packed::NR - P.n;
            const int64_t waste_direct = ceil_div(P.n, Direct::NR) * Direct::NR - P.n;
            if (Packed::NR != Direct::NR && P.n < 4 * Packed::NR && waste_direct < waste_packed)
                Direct::run(P, nthreads, false);
            else
                Packed::run(P, nthreads, false);
        } else if (P.m > Direct::MR && P.m <= 2 * Direct::MR) Few::run(P, nthreads, true);
        else Direct::run(P, nthreads, true);
    }
};

template <class T>
void gemm_entry(const GemmProblem<T>& P, int nthreads) { Gemm<T>::run(P, nthreads); }

// Independent FMA chains: enough of them to cover latency x throughput.
template <class T>
double fma_probe(int64_t iters) {
    using V = Vec<T>;
    constexpr int CH = 12;
    typename V::reg acc[CH];
#pragma GCC unroll 16
    for (int c = 0; c < CH; ++c) acc[c] = V::bcast(T(0.01) * T(c));
    const auto x = V::bcast(T(0.999)), y = V::bcast(T(0.001));
    for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
        for (int c = 0; c < CH; ++c) acc[c] = V::fma(acc[c], x, y);
    }
    alignas(64) T out[V::lanes];
    double s = 0;
    for (int c = 0; c < CH; ++c) {
        V::store(out, acc[c]);
        for (int l = 0; l < V::lanes; ++l) s += double(out[l]);
    }
    return s;
}
template <class T>
constexpr int64_t fma_probe_flops() { return 12 * 2 * Vec<T>::lanes; }

extern const KernelTable kernel_table;
const KernelTable kernel_table = {
    NNMAT_ISA_NAME,
    &gemm_entry<float>,
    &gemm_entry<double>,
    &fma_probe<float>,
    &fma_probe<double>,
    fma_probe_flops<float>(),
    fma_probe_flops<double>(),
    Gemm<float>::Direct::MR, Gemm<float>::Direct::NR,
    Gemm<double>::Direct::MR, Gemm<double>::Direct::NR,
    Gemm<float>::Packed::MR, Gemm<float>::Packed::NR,
    Gemm<double>::Packed::MR, Gemm<double>::Packed::NR,
};

}  // namespace NNMAT_ISA_NS
}  // namespace nnmat
