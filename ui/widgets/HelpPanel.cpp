#include "widgets/HelpPanel.h"

namespace calm::ui {

HelpPanel::HelpPanel(QWidget* parent) : QTextBrowser(parent) {
  setObjectName(QStringLiteral("helpPanel"));
  setOpenExternalLinks(true);
  document()->setDocumentMargin(14);
  setHtml(html());
}

QString HelpPanel::html() {
  return tr(R"(
<h2>What CALM does</h2>
<p>A transformer writes one token at a time, and every token normally passes through every decoder layer.
Most tokens are easy (a word copied from the input, the end of a common phrase) and the first layers
already know them; a few are hard. <b>Confident Adaptive Language Modeling</b> (Schuster et al., 2022)
lets each token <i>leave the decoder early</i> as soon as a confidence measure, checked after every layer,
reaches a threshold λ<sub>t</sub>. Easy tokens take a few layers, hard ones all of them.</p>

<h3>Reading the output</h3>
<p>Each token is a chip coloured by the layer it left after:
<span style='background:#1a9850;color:white'>&nbsp;green&nbsp;</span> after the first layers,
<span style='background:#fee08b'>&nbsp;yellow&nbsp;</span> half way,
<span style='background:#d73027;color:white'>&nbsp;red&nbsp;</span> the whole depth.
Hover a chip for its exit layer, confidence, threshold and the three likeliest tokens there; click it to
plot its confidence layer by layer. A dotted underline means the full model wrote something else there.</p>
<ul>
<li><b>Confidence layer by layer</b>: the measure after each layer, the dashed threshold, the exit marked;
beside each point the layer's best guess (red when it differs from the final layer's).</li>
<li><b>Heat map</b>: all tokens × all layers at once; the line is the exit path, its dots in the tokens' colours. Switch to
<i>agreement</i> to see where a layer's guess already equals the final answer: the head-room an ideal
measure could use.</li>
<li><b>Full vs CALM</b>: the two outputs side by side, differences highlighted, with the average layers
used, the measured speedup, the compute saved and the distance between the texts.</li>
<li><b>Threshold schedule</b>: λ<sub>t</sub> = 0.9 λ + 0.1 exp(−τ t / N) along the output.</li>
<li><b>Measures</b>: the same prompt decoded with each measure at its certified λ, and with the local oracle
(each token leaves at the first layer that agrees with the last): what each measure saves, side by side.</li>
<li><b>Playback</b> (the bar above the output): the decode replayed token by token and layer by layer, the
confidence climbing to the threshold, the exit, then the skipped layers' keys and values being filled.</li>
</ul>
<p><b>Help › Guided tour</b> walks through the panels one at a time.</p>

<h3>The controls</h3>
<ul>
<li><b>Measure</b>: softmax gap (top-1 minus top-2 probability), top-1 probability, hidden-state saturation
(how little a layer changed the state), or a trained early-exit classifier.</li>
<li><b>λ</b>: the confidence needed to exit. 1 = never exit (the full model); lower = faster and riskier.</li>
<li><b>τ</b>: how quickly the threshold relaxes along the output; the first tokens get a stricter one.</li>
<li><b>Gate</b> and <b>exit checks</b>: a cheap test (hidden-state cosine or the classifier) a layer must pass
before the softmax measure pays for the vocabulary projection; the first layer allowed to exit and how often
after it the measure is checked.</li>
<li><b>Mode</b>: later tokens still attend to the layers a token skipped. <i>CALM (propagate)</i> fills them
from the exit state (fast); <i>CALM (exact cache, catch-up)</i> runs them for real later, batched with the next
deep token; <i>at once</i> runs them immediately (analysis only). <i>Verify (lossless)</i> drafts a few tokens
with early exits and checks them in one pass of the full model: the output is exactly the full model's, the
speedup comes from the accepted drafts. Accepted drafts carry a ✓, the full model's corrections a blue border,
and the rejected drafts are shown struck through before them. Verify mode records no per-layer trace.</li>
</ul>
<p><b>File › Open thresholds…</b> (or the button in the Calibration tab) reads a thresholds file written by a
calibration and puts its λ, τ, measure, gate, mode and exit checks into the controls.</p>

<h3>Calibration: a λ you can trust</h3>
<p>Choose a tolerance <b>δ</b> and a risk <b>ε</b>. <i>Textual consistency</i> scores how far CALM's text
is from the full model's (distance = 1 − ROUGE-L, BLEU, … on words); <i>risk consistency</i> scores the
quality it loses against reference answers. The calibration runs the model on a set of examples for a
grid of λ from 1 downwards and, by <i>Learn then Test</i> (a fixed-sequence test with Hoeffding–Bentkus
p-values), keeps the last λ the fixed sequence passed. The guarantee: with probability at least 1 − ε
over the draw of the calibration set, the <i>expected</i> loss at that λ over new inputs from the same
distribution is at most δ. It is a statement about the average loss, not about each output, and it
needs calibration examples drawn at random from the inputs it is about. Other p-values (Hoeffding,
Bentkus, WSR betting) give the same guarantee, some with a lower λ.</p>
<p>The <b>Method</b> control also offers <i>conformal risk control</i>, a different promise: the expected
loss at the chosen λ on a new input, averaged over the draw of the calibration set as well, is at most δ
(no ε: it holds on average over calibrations, not for 1 − ε of them). It assumes each example's loss
never falls as λ falls; the calibration checks this and says when it does not hold, and then bounds
the monotone envelope of the losses (never below them) instead.</p>
<p>Moving δ or ε afterwards re-reads the stored losses: the model does not run again. But choosing δ or ε
after seeing the results on the same calibration set voids the guarantee: such a λ is shown as
<i>exploratory</i>. Fix δ and ε first and then calibrate (or re-calibrate on examples not yet looked at)
for a <i>certified</i> λ.</p>

<p style='color:#666'>Keys: Ctrl+Enter generates; ← → (and Home, End) move between tokens in the output.
Every control change re-decodes in the background.</p>
)");
}

}  // namespace calm::ui
