#include "session/OutcomeText.h"

#include <QObject>

namespace calm::ui {
namespace {

QString milliseconds(double seconds) {
  return QStringLiteral("%1 ms").arg(seconds * 1000.0, 0, 'f', seconds < 0.01 ? 2 : 1);
}

}  // namespace

QString outcomeSummary(const GenerationOutcome& o) {
  QString status;
  if (o.isVerify()) {
    status = QObject::tr("%1 tokens · <b>verify (lossless)</b>: %2 of %3 drafts accepted (<b>%4%</b>)")
                 .arg(o.tokenCount())
                 .arg(o.calm.accepted)
                 .arg(o.calm.drafted)
                 .arg(100.0 * o.acceptanceRate(), 0, 'f', 0);
    status += o.calm.verify_passes > 0
                  ? QObject::tr(" · <b>%1 tokens per verification pass</b>").arg(o.tokensPerPass(), 0, 'f', 2)
                  : QObject::tr(" · no verification pass needed");
    if (o.fullSeconds > 0.0 && o.calmSeconds > 0.0)
      status += QObject::tr(" · %1 vs %2 for the full model (<b>×%3</b>)")
                    .arg(milliseconds(o.calmSeconds), milliseconds(o.fullSeconds))
                    .arg(o.measuredSpeedup(), 0, 'f', 2);
    else
      status += QObject::tr(" · %1").arg(milliseconds(o.calmSeconds));
    status += QObject::tr(" · λ = %1, drafts of %2").arg(o.options.lambda, 0, 'f', 3).arg(o.options.verify_draft);
    if (o.textualDistance != 0.0)  // never expected: verify mode reproduces the full model
      status += QObject::tr(" · <span style='color:#b42318'>differs from the full model</span>");
  } else {
    status = QObject::tr("%1 tokens · <b>%2 of %3 layers</b> on average · <b>×%4</b> measured speedup · λ = %5")
                 .arg(o.tokenCount())
                 .arg(o.calm.average_layers(), 0, 'f', 2)
                 .arg(o.numLayers())
                 .arg(o.measuredSpeedup(), 0, 'f', 2)
                 .arg(o.options.lambda, 0, 'f', 3);
    status += o.textualDistance == 0.0 ? QObject::tr(" · same text as the full model")
                                       : QObject::tr(" · distance to the full model %1").arg(o.textualDistance, 0, 'f', 3);
  }
  if (o.calm.prompt_truncated) status += QObject::tr(" · <span style='color:#b42318'>prompt truncated to fit</span>");
  return status;
}

}  // namespace calm::ui
