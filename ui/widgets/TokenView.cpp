#include "widgets/TokenView.h"

#include <algorithm>

#include <QHBoxLayout>
#include <QKeyEvent>
#include <QVBoxLayout>

#include "plots/ExitColorScale.h"
#include "widgets/ExitLayerLegend.h"
#include "widgets/FlowLayout.h"
#include "widgets/TokenChip.h"
#include "session/TokenText.h"
#include "widgets/TokenTooltip.h"

namespace calm::ui {

TokenView::TokenView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("tokenView"));
  setFocusPolicy(Qt::StrongFocus);  // arrow keys move the selection
  title_ = new QLabel(tr("<b>Output</b> &nbsp;<span style='color:#666'>one chip per token; "
                              "hover for details, click or use ← → to inspect</span>"),
                           this);
  legend_ = new ExitLayerLegend(this);
  verifyLegend_ = new QLabel(this);
  verifyLegend_->setObjectName(QStringLiteral("verifyLegend"));
  verifyLegend_->setTextFormat(Qt::RichText);
  verifyLegend_->setText(tr("<span style='color:#444'>✓ accepted draft</span> &nbsp; "
                            "<span style='border:2px solid #1f6feb;color:#1f6feb'>&nbsp;corrected&nbsp;</span> "
                            "&nbsp; <span style='color:#8a8a8a'><s>rejected draft</s></span>"));
  verifyLegend_->setToolTip(tr("Verify mode: drafts with early exits are checked by the full model in one pass. "
                               "Accepted drafts keep their exit colour and get a check mark; where the full "
                               "model disagrees its own token (blue border) replaces the draft, which is shown "
                               "struck through before it."));
  verifyLegend_->hide();
  auto* header = new QHBoxLayout;
  header->setContentsMargins(0, 0, 0, 0);
  header->addWidget(title_);
  header->addStretch(1);
  header->addWidget(verifyLegend_);
  header->addSpacing(12);
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
  scroll_->setFocusPolicy(Qt::NoFocus);  // the keys are the view's, not the scroll area's
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

RejectedDraftChip* TokenView::rejectedBefore(int index) const {
  return index >= 0 && index < chipCount() ? rejected_[static_cast<std::size_t>(index)] : nullptr;
}

void TokenView::setVerifyMode(bool verify) {
  verify_ = verify;
  verifyLegend_->setVisible(verify);
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
    c->setFocusPolicy(Qt::NoFocus);
    connect(c, &TokenChip::clicked, this, [this](int i) {
      setFocus(Qt::MouseFocusReason);  // so that the arrow keys go on from here
      emit tokenClicked(i);
    });
    flow_->addWidget(c);
    chips_.push_back(c);
    rejected_.push_back(nullptr);
  }
  placeholder_->hide();
  TokenChip* c = chips_[static_cast<std::size_t>(index)];
  // exit_layer 0: a playback's token that has not exited yet, shown in grey
  // with the top token of the layers run so far.
  const bool undecided = token.exit_layer < 1;
  const QString tooltip = undecided ? tr("Not decided yet: the top token of the last layer run")
                          : verify_ ? TokenTooltip::verifyHtml(*model_, token, piece, layers)
                                    : TokenTooltip::html(*model_, token, piece, layers, measure_);
  c->setToken(TokenText::chipLabel(piece), TokenText::startsWord(piece) && index > 0, token.exit_layer,
              undecided ? QColor(0xd4, 0xd4, 0xd4) : ExitColorScale::forLayer(token.exit_layer, layers), tooltip);
  c->setVerifyMark(!verify_           ? TokenChip::VerifyMark::None
                   : token.verified   ? TokenChip::VerifyMark::Accepted
                                      : TokenChip::VerifyMark::Corrected);
  setRejected(index, token);
  c->setSelected(index == selected_);
  c->show();
}

void TokenView::setRejected(int index, const calm::TokenTrace& token) {
  RejectedDraftChip*& ghost = rejected_[static_cast<std::size_t>(index)];
  if (!verify_ || token.rejected_drafts.empty()) {
    if (ghost) {
      flow_->removeWidget(ghost);
      delete ghost;
      ghost = nullptr;
    }
    return;
  }
  if (!ghost) {
    ghost = new RejectedDraftChip(canvas_);
    flow_->insertWidget(flow_->indexOf(chips_[static_cast<std::size_t>(index)]), ghost);
  }
  bool wordStart = false;
  const QString label = TokenTooltip::rejectedLabel(*model_, token, &wordStart);
  const QString piece = QString::fromStdString(model_->tokenizer.piece(token.token));
  ghost->setDrafts(label, wordStart && index > 0, TokenTooltip::rejectedHtml(*model_, token, piece));
  // The correction follows its drafts closely, as their replacement.
  chips_[static_cast<std::size_t>(index)]->setProperty("wordGap", false);
  ghost->show();
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
  for (RejectedDraftChip* r : rejected_)
    if (r) r->setStale(true);
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
    if (RejectedDraftChip* r = rejected_.back()) {
      flow_->removeWidget(r);
      delete r;
    }
    rejected_.pop_back();
  }
}

void TokenView::setDifferences(const std::vector<bool>& different) {
  for (int i = 0; i < chipCount(); ++i)
    chips_[static_cast<std::size_t>(i)]->setDifferent(i < static_cast<int>(different.size()) &&
                                                      different[static_cast<std::size_t>(i)]);
}

void TokenView::keyPressEvent(QKeyEvent* event) {
  const int n = chipCount();
  int next = -1;
  switch (event->key()) {
    case Qt::Key_Left: next = selected_ < 0 ? n - 1 : selected_ - 1; break;
    case Qt::Key_Right: next = selected_ < 0 ? 0 : selected_ + 1; break;
    case Qt::Key_Home: next = 0; break;
    case Qt::Key_End: next = n - 1; break;
    default: QWidget::keyPressEvent(event); return;
  }
  event->accept();
  if (n == 0) return;
  next = std::clamp(next, 0, n - 1);
  if (next != selected_) emit tokenClicked(next);
}

void TokenView::setSelected(int index) {
  selected_ = index;
  for (TokenChip* c : chips_) c->setSelected(c->tokenIndex() == index);
  if (TokenChip* c = chip(index)) scroll_->ensureWidgetVisible(c, 8, 8);
}

void TokenView::setHeaderVisible(bool visible) {
  title_->setVisible(visible);
  legend_->setVisible(visible);
}

}  // namespace calm::ui
