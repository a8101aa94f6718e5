#include "widgets/ComparisonView.h"

#include <algorithm>

#include <QGridLayout>
#include <QLabel>
#include <QTextBrowser>
#include <QVBoxLayout>

#include "session/GenerationOutcome.h"
#include "session/TokenDiff.h"
#include "session/TokenText.h"

namespace calm::ui {

namespace {

const char* kChanged = "background:#ffd59e;color:#5a3200;border-radius:2px";

// The output as HTML, tokens outside the common subsequence highlighted.
// The end-of-sequence token is not shown.
QString markedUp(const QStringList& pieces, const calm::DecodeResult& result, const std::vector<bool>& changed) {
  QString html = QStringLiteral("<div style='white-space:pre-wrap;line-height:150%'>");
  const int shown = static_cast<int>(result.tokens.size()) - (result.stopped_at_eos ? 1 : 0);
  for (int i = 0; i < pieces.size() && i < shown; ++i) {
    const QString text = pieces[i].toHtmlEscaped();
    if (changed[static_cast<std::size_t>(i)])
      html += QStringLiteral("<span style='%1'>%2</span>").arg(QLatin1String(kChanged), text);
    else
      html += text;
  }
  return html + QStringLiteral("</div>");
}

QString ms(double seconds) { return QStringLiteral("%1 ms").arg(seconds * 1000.0, 0, 'f', seconds < 0.01 ? 2 : 1); }

}  // namespace

ComparisonView::ComparisonView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("comparisonView"));
  fullTitle_ = new QLabel(this);
  calmTitle_ = new QLabel(this);
  full_ = new QTextBrowser(this);
  full_->setObjectName(QStringLiteral("fullText"));
  calm_ = new QTextBrowser(this);
  calm_->setObjectName(QStringLiteral("calmText"));
  for (QTextBrowser* b : {full_, calm_}) {
    QFont f = b->font();
    f.setPointSizeF(f.pointSizeF() * 1.1);
    b->setFont(f);
    b->setMaximumHeight(b->fontMetrics().lineSpacing() * 12);  // long outputs scroll
  }
  stats_ = new QLabel(this);
  stats_->setObjectName(QStringLiteral("comparisonStats"));
  stats_->setTextFormat(Qt::RichText);
  stats_->setWordWrap(true);
  stats_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  reference_ = new QLabel(this);
  reference_->setObjectName(QStringLiteral("referenceText"));
  reference_->setWordWrap(true);
  reference_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* grid = new QGridLayout;
  grid->setContentsMargins(0, 0, 0, 0);
  grid->setHorizontalSpacing(12);
  grid->addWidget(fullTitle_, 0, 0);
  grid->addWidget(calmTitle_, 0, 1);
  grid->addWidget(full_, 1, 0);
  grid->addWidget(calm_, 1, 1);
  grid->setColumnStretch(0, 1);
  grid->setColumnStretch(1, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(8, 8, 8, 8);
  layout->setSpacing(8);
  layout->addWidget(stats_);
  layout->addLayout(grid);
  layout->addWidget(reference_);
  layout->addStretch(1);
  clear();
}

void ComparisonView::clear() {
  fullTitle_->setText(tr("<b>Full model</b> (every layer)"));
  calmTitle_->setText(tr("<b>CALM</b> (early exits)"));
  full_->clear();
  calm_->clear();
  reference_->hide();
  calmDifferent_.clear();
  stats_->setText(tr("<span style='color:#777'>Generate to compare CALM with the full model.</span>"));
}

void ComparisonView::showOutcome(const GenerationOutcome& o) {
  const int L = o.numLayers();
  const TokenDiff diff(o.full.tokens, o.calm.tokens);
  calmDifferent_ = diff.changedInB();
  full_->setHtml(markedUp(o.fullPieces, o.full, diff.changedInA()));
  calm_->setHtml(markedUp(o.calmPieces, o.calm, diff.changedInB()));
  fullTitle_->setText(tr("<b>Full model</b> — all %1 layers for every token").arg(L));
  if (o.isVerify())
    calmTitle_->setText(tr("<b>Verify</b> — drafts of %1 by λ = %2, checked by the full model")
                            .arg(o.options.verify_draft)
                            .arg(o.options.lambda, 0, 'f', 3));
  else
    calmTitle_->setText(tr("<b>CALM</b> — λ = %1, %2 measure").arg(o.options.lambda, 0, 'f', 3)
                            .arg(QString::fromUtf8(calm::measure_name(o.options.measure))));

  if (o.reference) {
    reference_->setText(tr("<b>Reference:</b> %1").arg(o.reference->toHtmlEscaped()));
    reference_->show();
  } else {
    reference_->hide();
  }

  const int differing = static_cast<int>(std::count(calmDifferent_.begin(), calmDifferent_.end(), true)) +
                        static_cast<int>(std::count(diff.changedInA().begin(), diff.changedInA().end(), true));
  QString rows;
  const auto row = [&rows](const QString& name, const QString& value, const QString& note) {
    rows += QStringLiteral("<tr><td style='padding-right:14px'>%1</td><td style='padding-right:14px'><b>%2</b></td>"
                           "<td style='color:#666'>%3</td></tr>")
                .arg(name, value, note);
  };
  const QString mode = o.isVerify() ? tr("Verify mode") : tr("CALM");
  const QString output = o.isVerify() ? tr("verify-mode") : tr("CALM");
  row(tr("Same output"), diff.identical() ? tr("yes") : tr("no"),
      diff.identical() ? tr("%1 wrote exactly what the full model writes").arg(mode)
                       : tr("%1 tokens differ (highlighted)").arg(differing));
  if (o.isVerify()) {
    row(tr("Drafts accepted"),
        QStringLiteral("%1 of %2 (%3%)").arg(o.calm.accepted).arg(o.calm.drafted).arg(100.0 * o.acceptanceRate(), 0, 'f', 0),
        tr("drafted tokens the full model agreed with; each rejection costs the rest of its draft"));
    row(tr("Tokens per verification pass"),
        o.calm.verify_passes > 0 ? QString::number(o.tokensPerPass(), 'f', 2) : tr("–"),
        o.calm.verify_passes > 0 ? tr("%1 batched passes of the full model for %2 tokens")
                                       .arg(o.calm.verify_passes)
                                       .arg(o.tokenCount())
                                 : tr("every draft already ran the full depth: nothing to verify"));
    row(tr("Average drafting layers"), QStringLiteral("%1 of %2").arg(o.calm.average_layers(), 0, 'f', 2).arg(L),
        tr("exit layer of accepted drafts; corrections count as %1").arg(L));
  } else {
    row(tr("Average layers per token"), QStringLiteral("%1 of %2").arg(o.calm.average_layers(), 0, 'f', 2).arg(L),
        tr("the full model always uses %1").arg(L));
  }
  const double speedup = o.measuredSpeedup(), flops = o.flopsSpeedup();
  row(tr("Measured speedup"), QStringLiteral("×%1").arg(speedup, 0, 'f', 2),
      tr("wall time without tracing: %1 %2, full model %3%4")
          .arg(mode, ms(o.calmSeconds), ms(o.fullSeconds),
               speedup >= 1.0 ? QString()
               : o.isVerify() ? tr(" — slower: drafting and rejected drafts cost more than the passes saved")
                              : tr(" — slower: the confidence checks cost more than the skipped layers saved")));
  row(tr("FLOPs ratio"), QStringLiteral("×%1").arg(flops, 0, 'f', 2),
      tr("full-model operations ÷ %1's, checks included%2")
          .arg(mode)
          .arg(o.options.measure == calm::Measure::Softmax || o.options.measure == calm::Measure::SoftmaxMax
                   ? tr(" (each softmax check is a vocabulary projection)")
                   : QString()));
  row(tr("Textual distance"), QString::number(o.textualDistance, 'f', 3),
      tr("1 − %1 between the %2 and the full output (0: identical)").arg(o.metricName, output));
  if (o.riskDifference)
    row(tr("Risk difference"), QString::number(*o.riskDifference, 'f', 3),
        tr("how much worse %1 matches the reference than the full model does (%2; 0: no worse)")
            .arg(mode, o.metricName));
  stats_->setText(QStringLiteral("<table>%1</table>").arg(rows));
}

}  // namespace calm::ui
