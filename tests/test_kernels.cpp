// The weight kernels against a naive double-precision product, for every
// storage type, every instruction set this CPU has, odd shapes (1, 7, 33 and
// 1000+ columns; 1 to 20 activation rows) and with and without threads.
//
// Tolerances, and why they are right:
// - F32/F16/BF16 weights are widened exactly, so the only error is float32
//   accumulation: |error| <= cols * 2^-24 * sum_k |w_k x_k| (a loose form of
//   the standard bound for a sum of cols terms); we allow that with the sum
//   of magnitudes computed in double.
// - Q8 rounds each weight and each activation to 1/254 of its block's maximum
//   magnitude: |w - w_q| <= s_w / 2 and |x - x_q| <= s_x / 2 per element, so a
//   block contributes at most sum_k (|x_k| s_w + |w_k| s_x) / 2 + s_w s_x / 4.
//   The test computes that bound per row and checks the error stays under it.
#include <QtTest>

#include <cmath>
#include <cstdlib>
#include <random>

#include "kernels/kernels_isa.h"
#include "kernels/matvec.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_matrix.h"


using namespace calm;

namespace {

Matrix random_matrix(int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix m(rows, cols);
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

// W as the kernels see it (after rounding to the stored type), widened to double.
Eigen::MatrixXd exact_weights(const WeightMatrix& w) { return w.to_dense().cast<double>(); }

}  // namespace

class TestKernels : public QObject {
  Q_OBJECT

  // The instruction set is chosen once per process; CTest runs this suite
  // once per set the CPU has, capped with CALM_KERNELS (tests/CMakeLists.txt).
 private slots:
  void half_round_trip_is_exact() {
    // Every finite half survives float -> half unchanged.
    for (uint32_t h = 0; h < 0x10000; ++h) {
      const float f = half_to_float(uint16_t(h));
      if (std::isnan(f)) continue;
      QCOMPARE(float_to_half(f), uint16_t(h));
    }
  }

  void half_rounding_picks_the_nearest_half() {
    // The defining property, checked in double: no other finite half is
    // nearer to f, and a tie goes to the even mantissa. Past the largest half
    // (65504), values from 65520 up round to Inf, as IEEE 754 says.
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> unit(-1.0, 1.0);
    for (int i = 0; i < 100000; ++i) {
      const float f = float(std::ldexp(unit(rng), int(i % 44) - 27));  // subnormal to near overflow
      const uint16_t h = float_to_half(f);
      const double got = half_to_float(h);
      for (int step : {-1, 1}) {
        const uint16_t other = uint16_t((h & 0x7fff) == 0 && step < 0 ? (h ^ 0x8000) + 1 : h + step);
        const double alternative = half_to_float(other);
        if (std::isnan(alternative) || std::isinf(alternative)) continue;
        const double mine = std::abs(got - double(f)), theirs = std::abs(alternative - double(f));
        QVERIFY2(mine < theirs || (mine == theirs && (h & 1) == 0),
                 qPrintable(QString("%1 -> %2, but %3 is nearer").arg(f).arg(got).arg(alternative)));
      }
    }
    QCOMPARE(float_to_half(65519.0f), uint16_t(0x7BFF));
    QCOMPARE(float_to_half(65520.0f), uint16_t(0x7C00));
    QCOMPARE(float_to_half(-1e9f), uint16_t(0xFC00));
    QCOMPARE(float_to_half(std::ldexp(1.0f, -25)), uint16_t(0x0000));  // halfway to the smallest subnormal: even
    QCOMPARE(float_to_half(std::ldexp(1.5f, -25)), uint16_t(0x0001));
  }

  void bfloat16_rounds_to_nearest_even() {
    QCOMPARE(float_to_bfloat16(1.0f), uint16_t(0x3F80));
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
    QCOMPARE(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8)), uint16_t(0x3F80));
    // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
    QCOMPARE(float_to_bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)), uint16_t(0x3F82));
    QCOMPARE(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), uint16_t(0x3F81));
    QVERIFY(std::isnan(bfloat16_to_float(float_to_bfloat16(std::nanf("")))));
    for (uint32_t b = 0; b < 0x10000; ++b) {
      const float f = bfloat16_to_float(uint16_t(b));
      if (!std::isnan(f)) QCOMPARE(float_to_bfloat16(f), uint16_t(b));
    }
  }

  void products_match_double_precision_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("cols");
    QTest::addColumn<int>("n");
    QTest::addColumn<int>("threads");
    const WeightType types[] = {WeightType::F32, WeightType::F16, WeightType::BF16, WeightType::Q8};
    const int shapes[][2] = {{1, 1}, {3, 7}, {17, 33}, {40, 1000}, {9, 1031}, {130, 64}};
    for (WeightType type : types)
      for (const auto& shape : shapes)
        for (int n : {1, 2, 3, 4, 5, 9, 20})
          for (int threads : {1, 3}) {
            if (n > 5 && shape[1] > 100 && threads == 3) continue;  // keep the suite quick
            const QString name = QString("%1 %2x%3 n=%4 threads=%5")
                                     .arg(weight_type_name(type)).arg(shape[0]).arg(shape[1]).arg(n).arg(threads);
            QTest::newRow(name.toUtf8().constData()) << int(type) << shape[0] << shape[1] << n << threads;
          }
  }
  void products_match_double_precision() {
    QFETCH(int, type);
    QFETCH(int, rows);
    QFETCH(int, cols);
    QFETCH(int, n);
    QFETCH(int, threads);
    std::mt19937 rng(uint32_t(rows * 1000 + cols + n));
    const WeightMatrix source = weight_matrix_f32(random_matrix(rows, cols, rng));
    const WeightMatrix w = convert_weights(source, WeightType(type));
    QCOMPARE(w.rows, int64_t(rows));
    QCOMPARE(w.cols, int64_t(cols));
    const Matrix x = random_matrix(n, cols, rng);
    Matrix y(n, rows);
    ThreadPool pool(threads);
    if (n == 1) matvec(w, x.data(), y.data(), &pool);
    else matmul_rows(w, x.data(), n, y.data(), &pool);

    const bool q8 = WeightType(type) == WeightType::Q8;
    // Q8's reference uses the unrounded weights: the bound covers both roundings.
    const Eigen::MatrixXd wd = q8 ? exact_weights(source) : exact_weights(w);
    const Eigen::MatrixXd xd = x.cast<double>();
    for (int i = 0; i < n; ++i)
      for (int r = 0; r < rows; ++r) {
        const double exact = wd.row(r).dot(xd.row(i));
        double bound = 0.0;
        if (!q8) {
          bound = (cols + 2) * std::ldexp(1.0, -24) * (wd.row(r).cwiseAbs().dot(xd.row(i).cwiseAbs())) + 1e-30;
        } else {
          for (int b = 0; b * kQ8Block < cols; ++b) {
            const int begin = b * kQ8Block, len = std::min(kQ8Block, cols - begin);
            const double sw = wd.row(r).segment(begin, len).cwiseAbs().maxCoeff() / 127.0;
            const double sx = xd.row(i).segment(begin, len).cwiseAbs().maxCoeff() / 127.0;
            bound += 0.5 * (xd.row(i).segment(begin, len).cwiseAbs().sum() * sw +
                            wd.row(r).segment(begin, len).cwiseAbs().sum() * sx) +
                     len * sw * sx / 4.0;
          }
          bound = bound * (1 + 1e-5) + cols * 1e-6;  // plus float32 accumulation of the block sums
        }
        const double error = std::abs(double(y(i, r)) - exact);
        if (error > bound)
          QFAIL(qPrintable(QString("row %1, activation %2: %3 vs exact %4, error %5 > bound %6 (%7 kernels)")
                               .arg(r).arg(i).arg(y(i, r)).arg(exact).arg(error).arg(bound).arg(kernel_isa())));
      }
  }

  void q8_error_is_small_relative_to_the_product() {
    // The documented figure (docs/performance.md): on Gaussian weights and
    // activations, Q8's relative RMS error of W x is below 1%.
    std::mt19937 rng(11);
    const WeightMatrix source = weight_matrix_f32(random_matrix(256, 2048, rng));
    const WeightMatrix w = convert_weights(source, WeightType::Q8);
    const Matrix x = random_matrix(1, 2048, rng);
    Vector y(256), exact(256);
    matvec(w, x.data(), y.data());
    matvec(source, x.data(), exact.data());
    const double relative = (y - exact).norm() / exact.norm();
    QVERIFY2(relative < 0.01, qPrintable(QString("relative error %1").arg(relative)));
    QVERIFY(relative > 0.0);  // it is really quantised
  }

  void batch_of_products_equals_them_one_by_one() {
    std::mt19937 rng(3);
    const WeightMatrix a = convert_weights(weight_matrix_f32(random_matrix(50, 70, rng)), WeightType::F16);
    const WeightMatrix b = convert_weights(weight_matrix_f32(random_matrix(33, 70, rng)), WeightType::Q8);
    const Matrix x = random_matrix(2, 70, rng);
    Matrix ya(2, 50), yb(1, 33), one_a(2, 50), one_b(1, 33);
    ThreadPool pool(2);
    const MatVecTask tasks[] = {{&a, x.data(), ya.data(), 2}, {&b, x.row(1).data(), yb.data(), 1}};
    matvec_batch(tasks, &pool);
    matmul_rows(a, x.data(), 2, one_a.data());
    matvec(b, x.row(1).data(), one_b.data());
    QCOMPARE(ya, one_a);  // the same kernels on the same rows: bit for bit
    QCOMPARE(yb, one_b);
  }

  void q8_vnni_kernel_matches_the_portable_one() {
    // The AVX-512 VNNI quantiser must give the portable one's bytes exactly
    // (same scale, same product by its inverse, same rounding); its kernel
    // computes the same integer products, each of its 16 lanes exactly the
    // sum of four of them, so the two results differ only by float32
    // rounding of those terms times their scales and of the sums: within
    // (blocks + 16) * 2^-24 * sum |w_q x_q s_w s_x| over the row. Odd shapes: a last
    // pair of blocks holding one block, rows not a multiple of anything, a
    // row range not starting at 0.
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512vnni") || !kernels::rows_q8_vnni())
      QSKIP("this CPU has no AVX-512 VNNI: the kernel cannot run here");
    const int shapes[][2] = {{1, 1}, {3, 7}, {5, 33}, {9, 65}, {17, 1031}, {4, 96}, {2, 2048}};
    for (const auto& shape : shapes)
      for (int n : {1, 2, 3, 4, 5, 9}) {
        const int rows = shape[0], cols = shape[1];
        std::mt19937 rng(uint32_t(rows * 7919 + cols * 31 + n));
        const WeightMatrix w = convert_weights(weight_matrix_f32(random_matrix(rows, cols, rng)), WeightType::Q8);
        const Matrix x = random_matrix(n, cols, rng);
        const int64_t blocks = w.stride / kQ8Block;
        std::vector<int8_t> q(size_t(n * w.stride)), q_fast(q.size());
        std::vector<float> scale(size_t(n * blocks)), scale_fast(scale.size());
        kernels::quantize_q8(x.data(), n, cols, w.stride, q.data(), scale.data());
        kernels::quantize_q8_vnni()(x.data(), n, cols, w.stride, q_fast.data(), scale_fast.data());
        QVERIFY(q == q_fast);
        QVERIFY(scale == scale_fast);

        kernels::Activations a{x.data(), n, q.data(), scale.data()};
        const int64_t r0 = rows > 1 ? 1 : 0;
        std::vector<float> y(size_t(n * rows), -1.0f), y_fast(y.size(), -1.0f);
        kernels::rows_generic()(w, a, r0, rows, y.data(), rows);
        kernels::rows_q8_vnni()(w, a, r0, rows, y_fast.data(), rows);
        const int8_t* wq = static_cast<const int8_t*>(w.data);
        for (int i = 0; i < n; ++i)
          for (int r = 0; r < rows; ++r) {
            const size_t at = size_t(i * rows + r);
            if (r < r0) {  // outside the range: untouched
              QCOMPARE(y_fast[at], -1.0f);
              continue;
            }
            double magnitude = 0.0;
            for (int64_t b = 0; b < blocks; ++b) {
              int64_t products = 0;
              for (int k = 0; k < kQ8Block; ++k)
                products += std::abs(int64_t(wq[r * w.stride + b * kQ8Block + k]) * q[size_t(i * w.stride + b * kQ8Block + k)]);
              magnitude += double(products) * w.scales[r * blocks + b] * scale[size_t(i * blocks + b)];
            }
            const double bound = double(blocks + 16) * std::ldexp(1.0, -24) * magnitude + 1e-30;
            if (std::abs(double(y_fast[at]) - double(y[at])) > bound)
              QFAIL(qPrintable(QString("%1x%2 n=%3 row %4 activation %5: %6 vs %7 (bound %8)")
                                   .arg(rows).arg(cols).arg(n).arg(r).arg(i).arg(y_fast[at]).arg(y[at]).arg(bound)));
          }
      }
#else
    QSKIP("not an x86-64 build: no VNNI kernel");
#endif
  }

  void q8_tasks_sharing_an_input_equal_them_one_by_one() {
    // q, k and v (and gate and up) take the same input: it is quantised once
    // for all of them, which must not change a bit of any result, also with
    // a float task and an input of another width between them.
    std::mt19937 rng(5);
    const WeightMatrix q = convert_weights(weight_matrix_f32(random_matrix(40, 70, rng)), WeightType::Q8);
    const WeightMatrix k = convert_weights(weight_matrix_f32(random_matrix(9, 70, rng)), WeightType::Q8);
    const WeightMatrix f = convert_weights(weight_matrix_f32(random_matrix(9, 70, rng)), WeightType::F16);
    const WeightMatrix wide = convert_weights(weight_matrix_f32(random_matrix(5, 100, rng)), WeightType::Q8);
    const Matrix x = random_matrix(2, 100, rng);
    Matrix yq(2, 40), yk(2, 9), yf(2, 9), yw(1, 5), one_q(2, 40), one_k(2, 9), one_f(2, 9), one_w(1, 5);
    ThreadPool pool(2);
    const MatVecTask tasks[] = {{&q, x.data(), yq.data(), 2},
                                {&f, x.data(), yf.data(), 2},
                                {&wide, x.data(), yw.data(), 1},
                                {&k, x.data(), yk.data(), 2}};
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      matvec_batch(tasks, p);
      matmul_rows(q, x.data(), 2, one_q.data());
      matmul_rows(k, x.data(), 2, one_k.data());
      matmul_rows(f, x.data(), 2, one_f.data());
      matvec(wide, x.data(), one_w.data());
      QCOMPARE(yq, one_q);
      QCOMPARE(yk, one_k);
      QCOMPARE(yf, one_f);
      QCOMPARE(yw, one_w);
    }
  }

  void pool_runs_every_task_once() {
    // More threads than this machine's cores, and task counts that grow from
    // one run to the next: a worker preempted at the end of one run must not
    // take a task of the next. (Before the fix this hung within a few
    // thousand rounds: a task ran twice and the pending count went below 0.)
    ThreadPool pool(4);
    std::vector<std::atomic<int>> counts(64);
    for (int round = 0; round < 200000; ++round) {
      const int tasks = 1 + (round * 7) % 41;
      for (int i = 0; i < tasks; ++i) counts[i].store(0);
      pool.run(tasks, [&](int i) { counts[i].fetch_add(1); });
      for (int i = 0; i < tasks; ++i) QCOMPARE(counts[i].load(), 1);
    }
  }

  void row_f32_and_to_dense_agree() {
    std::mt19937 rng(5);
    const Matrix m = random_matrix(5, 40, rng);
    for (WeightType type : {WeightType::F32, WeightType::F16, WeightType::BF16, WeightType::Q8}) {
      const WeightMatrix w = convert_weights(weight_matrix_f32(m), type);
      const Matrix dense = w.to_dense();
      std::vector<float> row(40);
      w.row_f32(3, row.data());
      for (int c = 0; c < 40; ++c) QCOMPARE(row[c], dense(3, c));
      // Within the type's rounding of the original.
      const double tolerance = type == WeightType::F32 ? 0 : type == WeightType::F16 ? 1e-3 : type == WeightType::BF16 ? 8e-3 : 0.02;
      QVERIFY(((dense - m).cwiseAbs().array() <= tolerance * m.cwiseAbs().maxCoeff()).all());
    }
  }
};

QTEST_APPLESS_MAIN(TestKernels)
#include "test_kernels.moc"
