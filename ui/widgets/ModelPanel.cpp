#include "widgets/ModelPanel.h"

#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSignalBlocker>
#include <QVBoxLayout>

#include "model/model.h"

namespace calm::ui {

namespace {
QString humanCount(int64_t n) {
  if (n >= 1000000) return QStringLiteral("%1 M").arg(n / 1e6, 0, 'f', n >= 100000000 ? 0 : 1);
  if (n >= 1000) return QStringLiteral("%1 k").arg(n / 1e3, 0, 'f', n >= 100000 ? 0 : 1);
  return QString::number(n);
}
}  // namespace

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("modelPanel"));
  box_ = new QComboBox(this);
  box_->setObjectName(QStringLiteral("modelBox"));
  box_->setToolTip(tr("The models that ship with CALM Studio. Use Open… for any other model directory "
                      "(config.json, model.safetensors, tokenizer.model)."));
  box_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  box_->setMinimumContentsLength(12);
  open_ = new QPushButton(tr("Open…"), this);
  open_->setObjectName(QStringLiteral("openModelButton"));
  open_->setToolTip(tr("Open a model directory from disk."));
  info_ = new QLabel(this);
  info_->setObjectName(QStringLiteral("modelInfo"));
  info_->setTextFormat(Qt::RichText);
  info_->setWordWrap(true);
  error_ = new QLabel(this);
  error_->setObjectName(QStringLiteral("modelError"));
  error_->setWordWrap(true);
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->setStyleSheet(QStringLiteral("color:#b42318"));
  error_->hide();

  auto* row = new QHBoxLayout;
  row->setContentsMargins(0, 0, 0, 0);
  row->addWidget(box_, 1);
  row->addWidget(open_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(6);
  layout->addLayout(row);
  layout->addWidget(info_);
  layout->addWidget(error_);

  connect(box_, &QComboBox::activated, this, [this](int index) {
    const QString dir = box_->itemData(index).toString();
    if (!dir.isEmpty()) emit modelChosen(dir);
  });
  connect(open_, &QPushButton::clicked, this, &ModelPanel::openDirectoryRequested);
}

void ModelPanel::setModels(const QList<QPair<QString, QString>>& models) {
  const QString current = currentDir();
  const QSignalBlocker block(box_);
  box_->clear();
  for (const auto& [name, dir] : models) box_->addItem(name, dir);
  if (!current.isEmpty()) setCurrentDir(current);
}

void ModelPanel::setCurrentDir(const QString& dir) {
  const QSignalBlocker block(box_);
  const auto absolute = [](const QString& d) { return QDir::cleanPath(QFileInfo(d).absoluteFilePath()); };
  const QString clean = absolute(dir);
  for (int i = 0; i < box_->count(); ++i)
    if (absolute(box_->itemData(i).toString()) == clean) {
      box_->setCurrentIndex(i);
      return;
    }
  box_->addItem(QFileInfo(clean).fileName() + tr(" (opened)"), clean);
  box_->setCurrentIndex(box_->count() - 1);
}

QString ModelPanel::currentDir() const { return box_->currentData().toString(); }

void ModelPanel::showLoading(const QString& dir) {
  error_->hide();
  info_->setText(tr("<span style='color:#777'>Loading %1…</span>").arg(QFileInfo(dir).fileName().toHtmlEscaped()));
}

void ModelPanel::showModel(const calm::Model& model) {
  error_->hide();
  const calm::ModelConfig& c = model.config;
  const bool t5 = c.arch == calm::Arch::EncoderDecoder;
  QString layers = tr("%1 decoder layers").arg(c.decoder_layers);
  if (t5) layers += tr(" (+ %1 encoder)").arg(c.encoder_layers);
  info_->setText(
      tr("<table cellspacing='0' cellpadding='1'>"
         "<tr><td style='color:#666;padding-right:8px'>Architecture</td><td>%1</td></tr>"
         "<tr><td style='color:#666;padding-right:8px'>Layers</td><td>%2</td></tr>"
         "<tr><td style='color:#666;padding-right:8px'>Parameters</td><td>%3 (d<sub>model</sub> %4, %5 heads, "
         "vocabulary %6)</td></tr>"
         "<tr><td style='color:#666;padding-right:8px'>Classifier head</td><td>%7</td></tr></table>")
          .arg(QString::fromUtf8(c.arch_name()).toHtmlEscaped(), layers, humanCount(model.parameter_count()))
          .arg(c.d_model)
          .arg(c.num_heads)
          .arg(c.vocab_size)
          .arg(c.has_classifier() ? tr("yes") : tr("no (softmax and state measures only)")));
  info_->setToolTip(QDir::toNativeSeparators(QString::fromStdString(model.dir)));
}

void ModelPanel::showError(const QString& message) {
  error_->setText(message);
  error_->show();
}

}  // namespace calm::ui
