// The key to the token colours: a bar from green (left after layer 1) to red
// (ran every layer), with a tick for each layer of the loaded model.
#pragma once

#include <QWidget>

namespace calm::ui {

class ExitLayerLegend : public QWidget {
  Q_OBJECT

 public:
  explicit ExitLayerLegend(QWidget* parent = nullptr);
  void setLayers(int layers);
  int layers() const { return layers_; }
  QSize sizeHint() const override;
  QSize minimumSizeHint() const override { return sizeHint(); }

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  int layers_ = 0;
};

}  // namespace calm::ui
