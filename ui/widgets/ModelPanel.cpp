#include "widgets/ModelPanel.h"

#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalBlocker>
#include <QVBoxLayout>

#include "model/load.h"
#include "model/model.h"
#include "session/ModelDescription.h"

namespace calm::ui {

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("modelPanel"));
  box_ = new QComboBox(this);
  box_->setObjectName(QStringLiteral("modelBox"));
  box_->setToolTip(tr("The models that ship with CALM Studio. Use Open… for any other model directory "
                      "(config.json, model.safetensors or its shards, tokenizer.json or tokenizer.model)."));
  box_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  box_->setMinimumContentsLength(12);
  open_ = new QPushButton(tr("Open…"), this);
  open_->setObjectName(QStringLiteral("openModelButton"));
  open_->setToolTip(tr("Open a model directory from disk (Llama, Mistral, Qwen2, T5, LayerSkip ...)."));

  weights_ = new QComboBox(this);
  weights_->setObjectName(QStringLiteral("weightsBox"));
  for (const WeightTypeChoice& choice : weightTypeChoices()) {
    weights_->addItem(choice.label, choice.name);
    weights_->setItemData(weights_->count() - 1, choice.help, Qt::ToolTipRole);
  }
  weights_->setToolTip(tr("The type the large matrices are held in. Changing it reloads the model."));
  auto* weightsLabel = new QLabel(tr("Weights"), this);
  weightsLabel->setBuddy(weights_);

  progress_ = new QProgressBar(this);
  progress_->setObjectName(QStringLiteral("modelLoadProgress"));
  progress_->setRange(0, 1000);
  progress_->setTextVisible(true);
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setObjectName(QStringLiteral("cancelLoadButton"));
  cancel_->setToolTip(tr("Stop loading; the model loaded before stays."));
  stage_ = new QLabel(this);
  stage_->setObjectName(QStringLiteral("modelLoadStage"));
  stage_->setWordWrap(true);
  stage_->setStyleSheet(QStringLiteral("color:#555"));
  loadRow_ = new QWidget(this);
  auto* barRow = new QHBoxLayout;
  barRow->setContentsMargins(0, 0, 0, 0);
  barRow->addWidget(progress_, 1);
  barRow->addWidget(cancel_);
  auto* loadLayout = new QVBoxLayout(loadRow_);
  loadLayout->setContentsMargins(0, 0, 0, 0);
  loadLayout->setSpacing(2);
  loadLayout->addWidget(stage_);
  loadLayout->addLayout(barRow);
  loadRow_->hide();

  info_ = new QLabel(this);
  info_->setObjectName(QStringLiteral("modelInfo"));
  info_->setTextFormat(Qt::RichText);
  info_->setWordWrap(true);
  note_ = new QLabel(this);
  note_->setObjectName(QStringLiteral("exitTrainingNote"));
  note_->setWordWrap(true);
  note_->setStyleSheet(QStringLiteral("background:#fff6e0;border:1px solid #e8c66a;border-radius:3px;padding:4px"));
  note_->hide();
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
  auto* weightsRow = new QHBoxLayout;
  weightsRow->setContentsMargins(0, 0, 0, 0);
  weightsRow->addWidget(weightsLabel);
  weightsRow->addWidget(weights_, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(6);
  layout->addLayout(row);
  layout->addLayout(weightsRow);
  layout->addWidget(loadRow_);
  layout->addWidget(info_);
  layout->addWidget(note_);
  layout->addWidget(error_);

  connect(box_, &QComboBox::activated, this, [this](int index) {
    const QString dir = box_->itemData(index).toString();
    if (!dir.isEmpty()) emit modelChosen(dir);
  });
  connect(open_, &QPushButton::clicked, this, &ModelPanel::openDirectoryRequested);
  connect(weights_, &QComboBox::activated, this,
          [this](int index) { emit weightTypeChosen(weights_->itemData(index).toString()); });
  connect(cancel_, &QPushButton::clicked, this, [this] {
    cancel_->setEnabled(false);
    stage_->setText(tr("Cancelling %1… (after the file being read)").arg(loading_));
    emit cancelLoadRequested();
  });
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

void ModelPanel::setWeightType(const QString& name) {
  const QSignalBlocker block(weights_);
  const int index = weights_->findData(name);
  if (index >= 0) weights_->setCurrentIndex(index);
}

QString ModelPanel::weightType() const { return weights_->currentData().toString(); }

void ModelPanel::showLoading(const QString& dir) {
  error_->hide();
  cancel_->setEnabled(true);
  loading_ = QFileInfo(dir).fileName();
  progress_->setValue(0);
  stage_->setText(tr("Loading %1…").arg(loading_));
  loadRow_->show();
}

void ModelPanel::showProgress(double fraction, const QString& stage) {
  if (!cancel_->isEnabled()) return;  // "Cancelling…" stays until the load stops
  progress_->setValue(static_cast<int>(fraction * 1000));
  stage_->setText(tr("Loading %1: %2").arg(loading_, stage));
}

void ModelPanel::endLoading() { loadRow_->hide(); }

void ModelPanel::showCancelled(const QString& dir, bool keptPrevious) {
  endLoading();
  error_->setText(keptPrevious ? tr("Loading %1 was cancelled; the model loaded before stays.")
                                     .arg(QFileInfo(dir).fileName())
                               : tr("Loading %1 was cancelled.").arg(QFileInfo(dir).fileName()));
  error_->show();
}

void ModelPanel::showModel(const calm::Model& model, const calm::ModelInfo& info) {
  endLoading();
  error_->hide();
  const ModelDescription d = describeModel(model.config, info);
  QString html = QStringLiteral("<table cellspacing='0' cellpadding='1'>");
  for (const auto& [label, value] : d.rows)
    html += QStringLiteral("<tr><td style='color:#666;padding-right:8px'>%1</td><td>%2</td></tr>")
                .arg(label.toHtmlEscaped(), value.toHtmlEscaped());
  info_->setText(html + QStringLiteral("</table>"));
  info_->setToolTip(QDir::toNativeSeparators(QString::fromStdString(model.dir)));
  note_->setText(d.exitNote);
  note_->setVisible(!d.exitNote.isEmpty());
}

void ModelPanel::showError(const QString& message) {
  endLoading();
  error_->setText(message);
  error_->show();
}

}  // namespace calm::ui
