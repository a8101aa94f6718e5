#include "kernels/matvec.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/kernels_isa.h"
#include "kernels/thread_pool.h"

namespace calm {
namespace {

struct Isa {
  const char* name;
  kernels::RowsKernel rows;
  kernels::QuantizeKernel quantize = kernels::quantize_q8;
};

Isa choose_isa() {
  const char* cap = std::getenv("CALM_KERNELS");
  const std::string limit = cap ? cap : "";
#if defined(__x86_64__)
  __builtin_cpu_init();
  // CALM_KERNELS=generic or =avx2 caps the choice (tests run each kernel).
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);  // clang has no builtin name for it
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  const bool vnni = avx512 && __builtin_cpu_supports("avx512vnni");
  if (avx512 && (limit.empty() || limit == "avx512") && kernels::rows_avx512()) {
    if (vnni && kernels::rows_avx512_vnni()) return {"avx512", kernels::rows_avx512_vnni(), kernels::quantize_q8_vnni()};
    return {"avx512", kernels::rows_avx512()};
  }
  if (avx2 && limit != "generic" && kernels::rows_avx2()) return {"avx2", kernels::rows_avx2()};
#endif
  return {"generic", kernels::rows_generic()};
}

const Isa& isa() {
  static const Isa chosen = choose_isa();
  return chosen;
}

// Q8 weights take quantised activations; one buffer per calling thread,
// grown once and reused, so the token loop does not allocate.
struct QuantizedRows {
  std::vector<int8_t> q;
  std::vector<float> scale;
};

// Where one task's quantised activations start in QuantizedRows.
struct QuantizedOffsets {
  size_t q = 0, blocks = 0;
};

// Rows per chunk: enough chunks for the threads to balance, none so small
// that claiming it costs more than computing it.
int64_t chunk_rows(int64_t rows, int threads) {
  if (threads <= 1) return rows;
  const int64_t chunk = (rows + threads * 4 - 1) / (threads * 4);
  return std::max<int64_t>(16, (chunk + 7) / 8 * 8);
}

struct Chunk {
  int task;
  int64_t begin, end;
};

// Many activation rows (a prompt, the encoder) go through in tiles, so that
// a tile stays in cache while every weight row of the range meets it.
constexpr int64_t kActivationTile = 32;

void run_rows(kernels::RowsKernel rows, const WeightMatrix& w, const kernels::Activations& a, int64_t r0, int64_t r1,
              float* y) {
  const int64_t blocks = w.stride / kQ8Block;
  for (int64_t i = 0; i < a.n; i += kActivationTile) {
    kernels::Activations tile = a;
    tile.n = std::min(kActivationTile, a.n - i);
    tile.x = a.x + i * w.cols;
    if (a.q) {
      tile.q = a.q + i * w.stride;
      tile.q_scale = a.q_scale + i * blocks;
    }
    rows(w, tile, r0, r1, y + i * w.rows, w.rows);
  }
}

}  // namespace

const char* kernel_isa() { return isa().name; }

void matvec_batch(std::span<const MatVecTask> tasks, ThreadPool* pool) {
  // Scratch of the calling thread; the pool's workers see it through these
  // references (a thread_local named inside the task would be their own).
  thread_local QuantizedRows scratch;
  thread_local std::vector<kernels::Activations> scratch_acts;
  thread_local std::vector<Chunk> scratch_chunks;
  thread_local std::vector<QuantizedOffsets> scratch_offsets;
  QuantizedRows& buffer = scratch;
  std::vector<kernels::Activations>& acts = scratch_acts;
  std::vector<Chunk>& chunks = scratch_chunks;
  std::vector<QuantizedOffsets>& offsets = scratch_offsets;
  const kernels::RowsKernel rows = isa().rows;

  // Quantise every Q8 task's activations first, once per distinct input (q,
  // k and v share one, as do gate and up); offsets first, pointers once all
  // are written, since the buffer may grow meanwhile.
  acts.resize(tasks.size());
  offsets.resize(tasks.size());
  size_t q_used = 0, blocks_used = 0;
  for (size_t t = 0; t < tasks.size(); ++t) {
    const MatVecTask& task = tasks[t];
    acts[t] = kernels::Activations{task.x, task.n};
    if (task.w->type != WeightType::Q8) continue;
    size_t same = t;
    for (size_t u = 0; u < t && same == t; ++u)
      if (tasks[u].w->type == WeightType::Q8 && tasks[u].x == task.x && tasks[u].n == task.n &&
          tasks[u].w->cols == task.w->cols && tasks[u].w->stride == task.w->stride)
        same = u;
    if (same != t) {
      offsets[t] = offsets[same];
      continue;
    }
    const int64_t stride = task.w->stride, blocks = stride / kQ8Block;
    offsets[t] = {q_used, blocks_used};
    q_used += size_t(task.n * stride);
    blocks_used += size_t(task.n * blocks);
    if (buffer.q.size() < q_used) buffer.q.resize(q_used);
    if (buffer.scale.size() < blocks_used) buffer.scale.resize(blocks_used);
    isa().quantize(task.x, task.n, task.w->cols, stride, buffer.q.data() + offsets[t].q,
                   buffer.scale.data() + offsets[t].blocks);
  }
  for (size_t t = 0; t < tasks.size(); ++t)
    if (tasks[t].w->type == WeightType::Q8) {
      acts[t].q = buffer.q.data() + offsets[t].q;
      acts[t].q_scale = buffer.scale.data() + offsets[t].blocks;
    }

  const int threads = pool ? pool->size() : 1;
  if (threads <= 1) {
    for (size_t t = 0; t < tasks.size(); ++t)
      run_rows(rows, *tasks[t].w, acts[t], 0, tasks[t].w->rows, tasks[t].y);
    return;
  }
  chunks.clear();
  for (size_t t = 0; t < tasks.size(); ++t) {
    const int64_t total = tasks[t].w->rows, step = chunk_rows(total, threads);
    for (int64_t r = 0; r < total; r += step) chunks.push_back({int(t), r, std::min(total, r + step)});
  }
  pool->run(int(chunks.size()), [&](int i) {
    const Chunk& c = chunks[i];
    const MatVecTask& task = tasks[c.task];
    run_rows(rows, *task.w, acts[c.task], c.begin, c.end, task.y);
  });
}

void matvec(const WeightMatrix& w, const float* x, float* y, ThreadPool* pool) {
  const MatVecTask task{&w, x, y, 1};
  matvec_batch({&task, 1}, pool);
}

void matmul_rows(const WeightMatrix& w, const float* x, int64_t n, float* y, ThreadPool* pool) {
  if (n <= 0) return;
  const MatVecTask task{&w, x, y, n};
  matvec_batch({&task, 1}, pool);
}

}  // namespace calm
