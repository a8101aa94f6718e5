// One generated token, drawn as a rounded chip in the colour of its exit layer.
// Hovering shows its tooltip; clicking selects it.
#pragma once

#include <QColor>
#include <QWidget>

namespace calm::ui {

class TokenChip : public QWidget {
  Q_OBJECT
  Q_PROPERTY(int tokenIndex READ tokenIndex)
  Q_PROPERTY(int exitLayer READ exitLayer)
  Q_PROPERTY(QColor color READ color)
  Q_PROPERTY(bool selected READ isSelected)

 public:
  explicit TokenChip(int index, QWidget* parent = nullptr);

  // `label` as TokenText::chipLabel gives it; `wordStart` widens the gap before the chip.
  void setToken(const QString& label, bool wordStart, int exitLayer, const QColor& color, const QString& tooltip);
  void setSelected(bool selected);
  void setDifferent(bool different);  // the full model wrote another token here
  void setStale(bool stale);          // left over from the previous run, about to be replaced

  int tokenIndex() const { return index_; }
  int exitLayer() const { return exitLayer_; }
  QColor color() const { return color_; }
  QString label() const { return label_; }
  bool isSelected() const { return selected_; }

  QSize sizeHint() const override;
  QSize minimumSizeHint() const override { return sizeHint(); }

 signals:
  void clicked(int index);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void enterEvent(QEnterEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  int index_;
  QString label_;
  int exitLayer_ = 0;
  QColor color_;
  bool selected_ = false;
  bool different_ = false;
  bool hovered_ = false;
  bool stale_ = false;
};

}  // namespace calm::ui
