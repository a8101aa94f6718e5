// The whole output at once: tokens across, decoder layers up, each cell the
// confidence after that layer (or whether that layer's top-1 already equals
// the final layer's), with the path of exit layers drawn over it.
#pragma once

#include <memory>
#include <vector>

#include <QWidget>

#include "decode/decoder.h"

class QComboBox;
class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPGraph;
class QCPItemRect;
class QCPItemText;
class QCPTextElement;

namespace calm::ui {

class LayerHeatmap : public QWidget {
  Q_OBJECT

 public:
  enum class Mode { Confidence, Agreement };

  explicit LayerHeatmap(QWidget* parent = nullptr);

  void setTokens(const std::vector<calm::TokenTrace>& tokens, const QStringList& pieces, int layers);
  void clear();
  // Nothing to draw, and why (e.g. verify mode records no trace); clear() restores the default text.
  void showMessage(const QString& message);
  QString message() const;  // the text shown instead of the map; empty while drawing
  void setMode(Mode mode);
  Mode mode() const { return mode_; }
  void setSelected(int index);
  // Playback: only the cells the decode has run by token `token`, layer
  // `layer` (each earlier token up to its exit), the exit path up to the
  // tokens that have exited, and with `filling` the current token's skipped
  // layers hatched (their K/V being filled). token < 0 shows everything.
  void setReveal(int token, int layer, bool exited, bool filling);
  QCustomPlot* plot() const { return plot_; }

 signals:
  void tokenClicked(int index);

 private:
  void rebuild();

  QComboBox* modeBox_;
  QCustomPlot* plot_;
  QCPTextElement* title_;
  QCPColorMap* map_;
  QCPColorScale* scale_;
  QCPGraph* path_;
  std::vector<QCPGraph*> exitMarks_;
  QCPItemRect* selection_;
  QCPItemRect* filling_;
  QCPItemText* message_;
  std::vector<calm::TokenTrace> tokens_;
  QStringList pieces_;
  QString placeholder_;
  int layers_ = 0;
  int selected_ = -1;
  int revealToken_ = -1, revealLayer_ = 0;
  bool revealExited_ = false, revealFilling_ = false;
  Mode mode_ = Mode::Confidence;
};

}  // namespace calm::ui
