// The generated text as a row of token chips coloured by exit layer, with the
// legend above. It shows what it is given and forwards clicks; the session
// decides what is shown.
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
class TokenChip;

class TokenView : public QWidget {
  Q_OBJECT

 public:
  explicit TokenView(QWidget* parent = nullptr);

  // The model whose tokenizer names the top-k tokens in tooltips, and its depth.
  void setModel(std::shared_ptr<const calm::Model> model);
  void setMeasure(calm::Measure measure) { measure_ = measure; }

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
  void setPlaceholder(const QString& text);

 signals:
  void tokenClicked(int index);

 private:
  void truncate(int count);

  std::shared_ptr<const calm::Model> model_;
  calm::Measure measure_ = calm::Measure::Softmax;
  ExitLayerLegend* legend_;
  QLabel* placeholder_;
  QScrollArea* scroll_;
  QWidget* canvas_;
  FlowLayout* flow_;
  std::vector<TokenChip*> chips_;
  int selected_ = -1;
};

}  // namespace calm::ui
