#include "widgets/PromptPanel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSignalBlocker>
#include <QVBoxLayout>

namespace calm::ui {

PromptPanel::PromptPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("promptPanel"));
  examples_ = new QComboBox(this);
  examples_->setObjectName(QStringLiteral("exampleBox"));
  examples_->setToolTip(tr("Prompts from the bundled test and calibration sets. Picking one also brings its "
                           "reference answer, so the comparison can show the risk difference."));
  examples_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  examples_->setMinimumContentsLength(30);
  edit_ = new QPlainTextEdit(this);
  edit_->setObjectName(QStringLiteral("promptEdit"));
  edit_->setPlaceholderText(tr("Type a prompt: a King James verse for kjv2web, the start of a text for prose…"));
  edit_->setTabChangesFocus(true);
  QFont f = edit_->font();
  f.setPointSizeF(f.pointSizeF() * 1.1);
  edit_->setFont(f);
  const int lines = 3;
  edit_->setFixedHeight(edit_->fontMetrics().lineSpacing() * lines + 14);
  generate_ = new QPushButton(tr("Generate"), this);
  generate_->setObjectName(QStringLiteral("generateButton"));
  generate_->setDefault(true);
  generate_->setToolTip(tr("Run CALM and the full model on the prompt (Ctrl+Enter)."));
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setObjectName(QStringLiteral("cancelButton"));
  cancel_->setEnabled(false);
  status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("runStatus"));
  status_->setTextFormat(Qt::RichText);

  auto* top = new QHBoxLayout;
  top->setContentsMargins(0, 0, 0, 0);
  auto* title = new QLabel(tr("<b>Prompt</b>"), this);
  top->addWidget(title);
  top->addSpacing(8);
  top->addWidget(new QLabel(tr("Examples:"), this));
  top->addWidget(examples_, 1);
  auto* buttons = new QVBoxLayout;
  buttons->setContentsMargins(0, 0, 0, 0);
  buttons->addWidget(generate_);
  buttons->addWidget(cancel_);
  buttons->addStretch(1);
  auto* middle = new QHBoxLayout;
  middle->setContentsMargins(0, 0, 0, 0);
  middle->addWidget(edit_, 1);
  middle->addLayout(buttons);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(4);
  layout->addLayout(top);
  layout->addLayout(middle);
  layout->addWidget(status_);

  connect(examples_, &QComboBox::activated, this, [this](int index) {
    const int i = examples_->itemData(index).toInt();
    if (i < 0 || i >= list_.size()) return;
    setPrompt(list_[i].input, list_[i].reference);
    emit promptEdited(prompt(), reference());
  });
  connect(edit_, &QPlainTextEdit::textChanged, this, [this] { emit promptEdited(prompt(), reference()); });
  connect(generate_, &QPushButton::clicked, this, &PromptPanel::generateRequested);
  connect(cancel_, &QPushButton::clicked, this, &PromptPanel::cancelRequested);
  for (const QKeySequence& keys : {QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)}) {
    auto* shortcut = new QShortcut(keys, this);
    shortcut->setContext(Qt::WindowShortcut);
    connect(shortcut, &QShortcut::activated, this, &PromptPanel::generateRequested);
  }
}

void PromptPanel::setExamples(const QList<ExamplePrompt>& examples) {
  list_ = examples;
  const QSignalBlocker block(examples_);
  examples_->clear();
  if (examples.isEmpty()) {
    examples_->addItem(tr("(no example set for this model)"), -1);
    examples_->setEnabled(false);
    return;
  }
  examples_->setEnabled(true);
  examples_->addItem(tr("Pick an example…"), -1);
  for (int i = 0; i < examples.size(); ++i) {
    examples_->addItem(examples[i].label, i);
    examples_->setItemData(examples_->count() - 1, examples[i].input, Qt::ToolTipRole);
  }
}

void PromptPanel::setPrompt(const QString& text, const std::optional<QString>& reference) {
  reference_ = reference;
  referenceFor_ = text;
  {  // show which example this is, if it is one
    const QSignalBlocker block(examples_);
    int shown = 0;
    for (int i = 0; i < list_.size(); ++i)
      if (list_[i].input == text) shown = i + 1;
    if (examples_->isEnabled()) examples_->setCurrentIndex(shown);
  }
  if (edit_->toPlainText() == text) return;
  const QSignalBlocker block(edit_);
  edit_->setPlainText(text);
}

QString PromptPanel::prompt() const { return edit_->toPlainText(); }

std::optional<QString> PromptPanel::reference() const {
  return edit_->toPlainText() == referenceFor_ ? reference_ : std::nullopt;
}

void PromptPanel::setBusy(bool busy) { cancel_->setEnabled(busy); }

void PromptPanel::setStatus(const QString& html) { status_->setText(html); }

}  // namespace calm::ui
