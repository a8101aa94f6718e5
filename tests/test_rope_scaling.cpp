// Rotary frequencies under Hugging Face's rope_scaling variants, against
// values worked out from the definitions (modeling_rope_utils), and the cos/sin
// table built from them. End-to-end parity with the PyTorch twin is in
// test_parity (fixtures llama3-style and llama-rope-linear).
#include <QtTest>

#include <cmath>

#include "nn/positions.h"

using calm::RopeScaling;
using calm::RopeScalingType;
using calm::RotaryTable;

class TestRopeScaling : public QObject {
  Q_OBJECT

 private slots:
  // head_dim 16, theta 10000: base frequencies 10000^(-i/8) = 1, 0.316, 0.1, ...
  // llama3, factor 8, low 1, high 4, original context 32: wavelength 2*pi/f.
  //   i = 0: 6.28 < 32/4 = 8, a high frequency: kept (1).
  //   i = 1: 19.87 between 8 and 32: smooth = (32/19.87 - 1)/(4 - 1) = 0.2035,
  //          f = (1 - smooth) * 0.3162/8 + smooth * 0.3162 = 0.09584.
  //   i >= 2: wavelength > 32: divided by 8 (0.1/8 = 0.0125, ...).
  void llama3Bands() {
    RopeScaling s;
    s.type = RopeScalingType::Llama3;
    s.factor = 8;
    s.low_freq_factor = 1;
    s.high_freq_factor = 4;
    s.original_max_positions = 32;
    const double expected[8] = {1.0, 0.095839985883, 0.0125, 0.00395284707521,
                                0.00125, 0.000395284707521, 0.000125, 3.95284707521e-05};
    for (int i = 0; i < 8; i++)
      QVERIFY2(std::abs(RotaryTable::inverse_frequency(i, 16, 10000.0f, s) / expected[i] - 1) < 1e-9,
               qPrintable(QString("pair %1").arg(i)));
  }

  void linearDividesEverything() {
    RopeScaling s;
    s.type = RopeScalingType::Linear;
    s.factor = 4;
    for (int i = 0; i < 8; i++)
      QCOMPARE(RotaryTable::inverse_frequency(i, 16, 10000.0f, s),
               std::pow(10000.0, -i / 8.0) / 4);  // exact: the same double operations
  }

  // Dynamic NTK scaling only acts past max_position_embeddings, which bounds
  // this engine's context: inside it the frequencies are the unscaled ones.
  void dynamicChangesNothingInsideTheContext() {
    RopeScaling s;
    s.type = RopeScalingType::Dynamic;
    s.factor = 2;
    for (int i = 0; i < 8; i++)
      QCOMPARE(RotaryTable::inverse_frequency(i, 16, 10000.0f, s), RotaryTable::inverse_frequency(i, 16, 10000.0f, {}));
  }

  void tableHoldsCosAndSinOfPositionTimesFrequency() {
    RopeScaling s;
    s.type = RopeScalingType::Linear;
    s.factor = 2;
    RotaryTable t;
    t.build(10, 8, 100.0f, s);
    QCOMPARE(t.cos.rows(), 10);
    QCOMPARE(t.cos.cols(), 4);
    for (int p = 0; p < 10; p++)
      for (int i = 0; i < 4; i++) {
        const double angle = p * std::pow(100.0, -i / 4.0) / 2;
        QVERIFY(std::abs(t.cos(p, i) - std::cos(angle)) < 1e-6);
        QVERIFY(std::abs(t.sin(p, i) - std::sin(angle)) < 1e-6);
      }
  }
};

QTEST_APPLESS_MAIN(TestRopeScaling)
#include "test_rope_scaling.moc"
