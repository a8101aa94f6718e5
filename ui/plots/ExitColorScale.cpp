#include "plots/ExitColorScale.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace calm::ui {

namespace {

struct Stop {
  double at;
  QColor color;
};

// ColorBrewer RdYlGn, reversed: readable for most colour-vision types at these
// five steps, and free of the muddy brown a plain RGB green-red blend gives.
const std::array<Stop, 5>& stops() {
  static const std::array<Stop, 5> s = {{{0.00, QColor(0x1a, 0x98, 0x50)},
                                         {0.25, QColor(0x91, 0xcf, 0x60)},
                                         {0.50, QColor(0xfe, 0xe0, 0x8b)},
                                         {0.75, QColor(0xfc, 0x8d, 0x59)},
                                         {1.00, QColor(0xd7, 0x30, 0x27)}}};
  return s;
}

int mix(int a, int b, double t) { return static_cast<int>(std::lround(a + (b - a) * t)); }

}  // namespace

QColor ExitColorScale::at(double fraction) {
  const double f = std::clamp(std::isfinite(fraction) ? fraction : 1.0, 0.0, 1.0);
  const auto& s = stops();
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (f <= s[i].at) {
      const double t = (f - s[i - 1].at) / (s[i].at - s[i - 1].at);
      const QColor& a = s[i - 1].color;
      const QColor& b = s[i].color;
      return QColor(mix(a.red(), b.red(), t), mix(a.green(), b.green(), t), mix(a.blue(), b.blue(), t));
    }
  }
  return s.back().color;
}

QColor ExitColorScale::forLayer(int layer, int layers) {
  if (layers <= 1) return at(1.0);
  return at(static_cast<double>(layer - 1) / static_cast<double>(layers - 1));
}

QColor ExitColorScale::textOn(const QColor& background) {
  // Relative luminance (sRGB weights); the cut favours dark text on the yellows.
  const double luminance = 0.2126 * background.redF() + 0.7152 * background.greenF() + 0.0722 * background.blueF();
  return luminance > 0.45 ? QColor(0x20, 0x20, 0x20) : QColor(Qt::white);
}

QLinearGradient ExitColorScale::gradient(const QPointF& start, const QPointF& stop) {
  QLinearGradient g(start, stop);
  constexpr int kSteps = 16;
  for (int i = 0; i <= kSteps; ++i) g.setColorAt(i / double(kSteps), at(i / double(kSteps)));
  return g;
}

}  // namespace calm::ui
