#include "TokenView.h"

#include <QHBoxLayout>
#include <QVBoxLayout>

#include "ExitColorScale.h"
#include "ExitLayerLegend.h"
#include "FlowLayout.h"
#include "TokenChip.h"
#include "TokenText.h"
#include "TokenTooltip.h"

namespace calm::ui {

TokenView::TokenView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("tokenView"));
  auto* title = new QLabel(tr("<b>Output</b> &nbsp;<span style='color:#666'>one chip per token; "
                              "hover for details, click to inspect</span>"),
                           this);
  legend_ = new ExitLayerLegend(this);
  auto* header = new QHBoxLayout;
  header->setContentsMargins(0, 0, 0, 0);
  header->addWidget(title);
  header->addStretch(1);
  header->addWidget(legend_);

  canvas_ = new QWidget;
  canvas_->setObjectName(QStringLiteral("tokenCanvas"));
  canvas_->setAutoFillBackground(true);
  QPalette pal = canvas_->palette();
  pal.setColor(QPalette::Window, palette().color(QPalette::Base));
  canvas_->setPalette(pal);
  flow_ = new FlowLayout(canvas_, 2, 8, 6);
  flow_->setContentsMargins(8, 8, 8, 8);
  QFont chipFont = font();
  chipFont.setPointSizeF(chipFont.pointSizeF() * 1.15);
  canvas_->setFont(chipFont);

  placeholder_ = new QLabel(canvas_);
  placeholder_->setObjectName(QStringLiteral("tokenPlaceholder"));
  placeholder_->setStyleSheet(QStringLiteral("color:#777"));
  placeholder_->setText(tr("Type a prompt and press Ctrl+Enter: the answer appears here, token by token."));
  flow_->addWidget(placeholder_);

  scroll_ = new QScrollArea(this);
  scroll_->setWidgetResizable(true);
  scroll_->setWidget(canvas_);
  scroll_->setFrameShape(QFrame::StyledPanel);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(4);
  layout->addLayout(header);
  layout->addWidget(scroll_, 1);
}

void TokenView::setModel(std::shared_ptr<const calm::Model> model) {
  model_ = std::move(model);
  legend_->setLayers(model_ ? model_->config.decoder_layers : 0);
  clear();
}

TokenChip* TokenView::chip(int index) const {
  return index >= 0 && index < chipCount() ? chips_[static_cast<std::size_t>(index)] : nullptr;
}

void TokenView::setPlaceholder(const QString& text) {
  placeholder_->setText(text);
  placeholder_->setVisible(chips_.empty());
}

void TokenView::setToken(int index, const calm::TokenTrace& token, const QString& piece) {
  if (!model_ || index < 0) return;
  const int layers = model_->config.decoder_layers;
  while (chipCount() <= index) {
    auto* c = new TokenChip(chipCount(), canvas_);
    connect(c, &TokenChip::clicked, this, &TokenView::tokenClicked);
    flow_->addWidget(c);
    chips_.push_back(c);
  }
  placeholder_->hide();
  TokenChip* c = chips_[static_cast<std::size_t>(index)];
  c->setToken(TokenText::chipLabel(piece), TokenText::startsWord(piece) && index > 0, token.exit_layer,
              ExitColorScale::forLayer(token.exit_layer, layers),
              TokenTooltip::html(*model_, token, piece, layers, measure_));
  c->setSelected(index == selected_);
  c->show();
}

void TokenView::showTokens(const std::vector<calm::TokenTrace>& tokens, const QStringList& pieces) {
  const int n = static_cast<int>(tokens.size());
  for (int i = 0; i < n; ++i) setToken(i, tokens[static_cast<std::size_t>(i)], i < pieces.size() ? pieces[i] : QString());
  truncate(n);
  if (selected_ >= n) setSelected(n - 1);
  placeholder_->setVisible(chips_.empty());
}

void TokenView::markStale() {
  for (TokenChip* c : chips_) c->setStale(true);
}

void TokenView::clear() {
  truncate(0);
  selected_ = -1;
  placeholder_->show();
}

void TokenView::truncate(int count) {
  while (chipCount() > count) {
    TokenChip* c = chips_.back();
    chips_.pop_back();
    flow_->removeWidget(c);
    delete c;
  }
}

void TokenView::setDifferences(const std::vector<bool>& different) {
  for (int i = 0; i < chipCount(); ++i)
    chips_[static_cast<std::size_t>(i)]->setDifferent(i < static_cast<int>(different.size()) &&
                                                      different[static_cast<std::size_t>(i)]);
}

void TokenView::setSelected(int index) {
  selected_ = index;
  for (TokenChip* c : chips_) c->setSelected(c->tokenIndex() == index);
  if (TokenChip* c = chip(index)) scroll_->ensureWidgetVisible(c, 8, 8);
}

}  // namespace calm::ui
