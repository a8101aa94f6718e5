// One generated token, drawn as a rounded chip in the colour of its exit layer.
// Hovering shows its tooltip; clicking selects it. In verify mode a chip is
// marked as an accepted draft (a small check mark) or as the full model's
// correction (a blue border). RejectedDraftChip shows the drafts a correction
// replaced, faintly, right before it.
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
  Q_PROPERTY(int verifyMark READ verifyMarkValue)

 public:
  enum class VerifyMark { None, Accepted, Corrected };

  explicit TokenChip(int index, QWidget* parent = nullptr);

  // `label` as TokenText::chipLabel gives it; `wordStart` widens the gap before the chip.
  void setToken(const QString& label, bool wordStart, int exitLayer, const QColor& color, const QString& tooltip);
  void setSelected(bool selected);
  void setDifferent(bool different);  // the full model wrote another token here
  void setStale(bool stale);          // left over from the previous run, about to be replaced
  void setVerifyMark(VerifyMark mark);
  VerifyMark verifyMark() const { return mark_; }
  int verifyMarkValue() const { return static_cast<int>(mark_); }

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
  VerifyMark mark_ = VerifyMark::None;
};

// The drafted tokens a verify pass rejected, drawn before the token that
// replaced them: grey, struck through, smaller. Not a token of the output.
class RejectedDraftChip : public QWidget {
  Q_OBJECT

 public:
  explicit RejectedDraftChip(QWidget* parent = nullptr);
  void setDrafts(const QString& label, bool wordStart, const QString& tooltip);
  void setStale(bool stale);
  QString label() const { return label_; }

  QSize sizeHint() const override;
  QSize minimumSizeHint() const override { return sizeHint(); }

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  QFont draftFont() const;
  QString label_;
  bool stale_ = false;
};

}  // namespace calm::ui
