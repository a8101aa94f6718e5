// The generated text as a row of token chips coloured by exit layer, with the
// legend above. It shows what it is given and forwards clicks and arrow keys
// (Left/Right, Home/End move the selection; the window decides what selecting
// means); the session decides what is shown. In verify mode accepted drafts
// carry a check mark, the full model's corrections a blue border, and the
// drafts they replaced are shown faintly before them.
#pragma once

#include <memory>
#include <vector>

#include <QLabel>
#include <QScrollArea>
#include <QWidget>

#include "decode/decoder.h"

namespace calm::ui {

class ExitLayerLegend;
class FlowLayout;
class RejectedDraftChip;
class TokenChip;

class TokenView : public QWidget {
  Q_OBJECT

 public:
  explicit TokenView(QWidget* parent = nullptr);

  // The model whose tokenizer names the top-k tokens in tooltips, and its depth.
  void setModel(std::shared_ptr<const calm::Model> model);
  void setMeasure(calm::Measure measure) { measure_ = measure; }
  // Whether the tokens come from a verify-mode run (set before they arrive).
  void setVerifyMode(bool verify);
  bool verifyMode() const { return verify_; }

  // Shows exactly these tokens (chips are reused, extra ones removed).
  void showTokens(const std::vector<calm::TokenTrace>& tokens, const QStringList& pieces);
  // Sets one token as it streams in; chips past it keep the previous run's look, faded.
  void setToken(int index, const calm::TokenTrace& token, const QString& piece);
  void markStale();  // a new run started: fade every chip until it is replaced
  void clear();
  // Which CALM tokens differ from the full model's at the same position.
  void setDifferences(const std::vector<bool>& different);

  void setSelected(int index);
  int selected() const { return selected_; }
  int chipCount() const { return static_cast<int>(chips_.size()); }
  TokenChip* chip(int index) const;
  // The rejected drafts shown before token `index` (verify mode), or null.
  RejectedDraftChip* rejectedBefore(int index) const;
  void setPlaceholder(const QString& text);
  // Hides the title and legend, for views that stack several rows under one legend.
  void setHeaderVisible(bool visible);

 signals:
  void tokenClicked(int index);  // a click, or a key that moves the selection

 protected:
  void keyPressEvent(QKeyEvent* event) override;

 private:
  void truncate(int count);
  void setRejected(int index, const calm::TokenTrace& token);

  std::shared_ptr<const calm::Model> model_;
  calm::Measure measure_ = calm::Measure::Softmax;
  QLabel* title_;
  ExitLayerLegend* legend_;
  QLabel* verifyLegend_;
  QLabel* placeholder_;
  QScrollArea* scroll_;
  QWidget* canvas_;
  FlowLayout* flow_;
  std::vector<TokenChip*> chips_;
  std::vector<RejectedDraftChip*> rejected_;  // (chips_), null where none
  int selected_ = -1;
  bool verify_ = false;
};

}  // namespace calm::ui
