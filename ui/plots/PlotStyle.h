// The common look of every QCustomPlot in the app: fonts, quiet grids, a title
// row, and a centred message when there is nothing to plot yet.
#pragma once

#include <QString>

class QCustomPlot;
class QCPTextElement;
class QCPItemText;

namespace calm::ui {

class PlotStyle {
 public:
  // Styles the axes and adds a title element in a new first row; returns it.
  static QCPTextElement* apply(QCustomPlot* plot, const QString& title);
  // A message in the middle of the axis rect ("Generate to see ..."); hidden by default.
  static QCPItemText* addPlaceholder(QCustomPlot* plot);
};

}  // namespace calm::ui
