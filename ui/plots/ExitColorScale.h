// The one colour scale of the app for "how deep did this token go": green for
// an exit after the first layer, through yellow, to red for the full depth.
// Token chips, the legend, the confidence plot's exit marker and the heat map's
// exit path all take their colour from here.
#pragma once

#include <QColor>
#include <QLinearGradient>

namespace calm::ui {

class ExitColorScale {
 public:
  // Colour for a position in [0, 1] (0: first layer, 1: last layer); clamped.
  static QColor at(double fraction);
  // Colour for exit layer `layer` (1-based) of `layers`; a one-layer model is red.
  static QColor forLayer(int layer, int layers);
  // Black or white, whichever reads better on `background`.
  static QColor textOn(const QColor& background);
  // The same scale as a gradient from `start` (first layer) to `stop` (last).
  static QLinearGradient gradient(const QPointF& start, const QPointF& stop);
};

}  // namespace calm::ui
