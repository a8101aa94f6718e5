// A layout that places widgets left to right and wraps them like words (after
// Qt's Flow Layout example). A widget whose "wordGap" property is true gets a
// wider gap before it, so token chips group into words.
#pragma once

#include <QLayout>
#include <QList>

namespace calm::ui {

class FlowLayout : public QLayout {
 public:
  explicit FlowLayout(QWidget* parent = nullptr, int tokenGap = 2, int wordGap = 8, int lineGap = 6);
  ~FlowLayout() override;

  void addItem(QLayoutItem* item) override;
  void insertWidget(int index, QWidget* widget);  // before item `index` (appended when out of range)
  int count() const override { return static_cast<int>(items_.size()); }
  QLayoutItem* itemAt(int index) const override;
  QLayoutItem* takeAt(int index) override;
  Qt::Orientations expandingDirections() const override { return {}; }
  bool hasHeightForWidth() const override { return true; }
  int heightForWidth(int width) const override;
  QSize minimumSize() const override;
  QSize sizeHint() const override;
  void setGeometry(const QRect& rect) override;

 private:
  int arrange(const QRect& rect, bool apply) const;

  QList<QLayoutItem*> items_;
  int tokenGap_, wordGap_, lineGap_;
};

}  // namespace calm::ui
