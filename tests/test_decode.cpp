// The CALM token loop: exits, thresholds, state propagation, the exact cache,
// baselines, trace and cancellation, on the tiny fixture models (whose
// network itself test_parity checks against PyTorch).
#include <QtTest>
#include <cmath>
#include <random>

#include "decode/decoder.h"
#include "fixture_models.h"
#include "util/error.h"
#include "model/model.h"
#include "nn/forward.h"
#include "nn/positions.h"

using namespace calm;
using namespace calm::testing;

namespace {

const char* kPrompt = "And God said, Let there be light";

// ---- A plain, cache-free reference of propagated decoding ----------------
// Given the decoder inputs x_t and the exit layer e_t of every position, it
// recomputes every layer over the whole sequence at once. Layer l's input at
// position t is the previous layer's output when l <= e_t, else the exit state
// h_t^{e_t} copied up; its K/V come from that input. No K/V cache, no reuse
// of the engine's step code: loops written for reading, not speed.

Vector plain_norm(const Vector& x, const Vector& w, float eps) {
  const double ms = x.cast<double>().squaredNorm() / x.size();
  return (x.cast<double>() / std::sqrt(ms + eps)).cast<float>().cwiseProduct(w);
}

void plain_rope(Vector& x, int heads, int head_dim, int position, float theta) {
  const int half = head_dim / 2;
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < half; ++i) {
      const double angle = position / std::pow(static_cast<double>(theta), 2.0 * i / head_dim);
      const double a = x[h * head_dim + i], b = x[h * head_dim + i + half];
      x[h * head_dim + i] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
      x[h * head_dim + i + half] = static_cast<float>(b * std::cos(angle) + a * std::sin(angle));
    }
}

// Attention of query row q over keys/values rows [0, n) (all heads).
Vector plain_attention(const ModelConfig& c, const Vector& q, const std::vector<Vector>& keys,
                       const std::vector<Vector>& values, int n, bool t5, const Matrix* bias, int query_pos) {
  Vector out = Vector::Zero(c.q_dim());
  const int group = c.num_heads / c.num_kv_heads;
  for (int h = 0; h < c.num_heads; ++h) {
    const int g = h / group;
    std::vector<double> s(n);
    double max_s = -1e300;
    for (int j = 0; j < n; ++j) {
      double dot = 0;
      for (int i = 0; i < c.head_dim; ++i) dot += q[h * c.head_dim + i] * keys[j][g * c.head_dim + i];
      if (!t5) dot /= std::sqrt(static_cast<double>(c.head_dim));
      if (bias)
        dot += (*bias)(relative_position_bucket(j - query_pos, false, c.relative_buckets, c.relative_max_distance), h);
      s[j] = dot;
      max_s = std::max(max_s, dot);
    }
    double total = 0;
    for (double& v : s) total += (v = std::exp(v - max_s));
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < c.head_dim; ++i)
        out[h * c.head_dim + i] += static_cast<float>(s[j] / total * values[j][g * c.head_dim + i]);
  }
  return out;
}

// W x + b (b empty: no bias).
Vector plain_project(const WeightMatrix& w, const Vector& b, const Vector& x) {
  Vector y = w.to_dense() * x;
  if (b.size() != 0) y += b;
  return y;
}

Vector plain_feed_forward(const ModelConfig& c, const FeedForwardWeights& w, const Vector& x) {
  Vector up = plain_project(w.up, w.up_bias, x);
  if (c.feed_forward == FeedForward::Relu) return w.down.to_dense() * up.cwiseMax(0.0f);
  const Vector gate = plain_project(w.gate, w.gate_bias, x);
  for (int i = 0; i < up.size(); ++i) {
    const double g = gate[i];
    const double act = c.feed_forward == FeedForward::GatedGelu
                           ? 0.5 * g * (1 + std::tanh(0.7978845608028654 * (g + 0.044715 * g * g * g)))
                           : g / (1 + std::exp(-g));
    up[i] = static_cast<float>(up[i] * act);
  }
  return plain_project(w.down, w.down_bias, up);
}

// Returns h[t] = the exit state of every position (d_model), for inputs x and
// exits e (1-based). `first_position` is the absolute position of x[0]
// (Llama: the prompt occupies the earlier positions and runs at full depth).
std::vector<Vector> plain_propagated_states(const Model& model, const std::vector<int>& x, const std::vector<int>& e,
                                            const Matrix& encoder_output) {
  const ModelConfig& c = model.config;
  const Weights& w = model.weights;
  const bool t5 = c.arch == Arch::EncoderDecoder;
  const int n = static_cast<int>(x.size());
  std::vector<Vector> current(n), exit_state(n);
  for (int t = 0; t < n; ++t) current[t] = w.embedding.to_dense().row(x[t]).transpose();
  for (int l = 1; l <= c.decoder_layers; ++l) {
    const LayerWeights& lw = w.decoder[l - 1];
    std::vector<Vector> input(n), keys(n), values(n);
    for (int t = 0; t < n; ++t) {
      input[t] = l <= e[t] ? current[t] : exit_state[t];
      const Vector normed = plain_norm(input[t], lw.self_attn_norm, c.norm_eps);
      keys[t] = plain_project(lw.self_attn.k, lw.self_attn.k_bias, normed);
      values[t] = plain_project(lw.self_attn.v, lw.self_attn.v_bias, normed);
      if (!t5) plain_rope(keys[t], c.num_kv_heads, c.head_dim, t, c.rope_theta);
    }
    std::vector<Vector> cross_keys, cross_values;
    if (t5)
      for (int s = 0; s < encoder_output.rows(); ++s) {
        cross_keys.push_back(lw.cross_attn.k.to_dense() * encoder_output.row(s).transpose());
        cross_values.push_back(lw.cross_attn.v.to_dense() * encoder_output.row(s).transpose());
      }
    for (int t = 0; t < n; ++t) {
      if (l > e[t]) continue;  // this position has left: its state stays the exit state
      Vector h = input[t];
      Vector q = plain_project(lw.self_attn.q, lw.self_attn.q_bias, plain_norm(h, lw.self_attn_norm, c.norm_eps));
      if (!t5) plain_rope(q, c.num_heads, c.head_dim, t, c.rope_theta);
      h += plain_project(lw.self_attn.o, lw.self_attn.o_bias,
                         plain_attention(c, q, keys, values, t + 1, t5, t5 ? &w.decoder_relative_bias : nullptr, t));
      if (t5) {
        const Vector cq = lw.cross_attn.q.to_dense() * plain_norm(h, lw.cross_attn_norm, c.norm_eps);
        h += lw.cross_attn.o.to_dense() * plain_attention(c, cq, cross_keys, cross_values, static_cast<int>(cross_keys.size()),
                                               true, nullptr, t);
      }
      h += plain_feed_forward(c, lw.ffn, plain_norm(h, lw.ffn_norm, c.norm_eps));
      current[t] = h;
      if (l == e[t]) exit_state[t] = h;
    }
  }
  return exit_state;
}

Vector plain_probabilities(const Model& model, const Vector& hidden) {
  Vector normed = plain_norm(hidden, model.weights.decoder_norm, model.config.norm_eps);
  if (model.config.arch == Arch::EncoderDecoder && model.config.tied_embeddings)
    normed /= std::sqrt(static_cast<float>(model.config.d_model));
  const Eigen::VectorXd logits = (model.weights.output_projection().to_dense() * normed).cast<double>();
  const Eigen::VectorXd p = (logits.array() - logits.maxCoeff()).exp();
  return (p / p.sum()).cast<float>();
}

DecodeOptions calm_options(float lambda, Measure measure = Measure::Softmax) {
  DecodeOptions o;
  o.lambda = lambda;
  o.measure = measure;
  o.tau = 4.0f;
  o.max_new_tokens = 12;
  return o;
}

}  // namespace

class TestDecode : public QObject {
  Q_OBJECT

 private slots:
  void models_data() {
    QTest::addColumn<QString>("dir");
    // llama-bias and qwen2-style: the biases in every path (prompt rows, one
    // position, propagated and caught-up K/V).
    for (const char* name : {"t5-gated-untied-f32", "t5-relu-tied", "llama-gqa-untied-f32", "llama-tied", "llama-bias",
                             "qwen2-style"})
      QTest::newRow(name) << QString(CALM_FIXTURES_DIR "/models/") + name;
  }

  // lambda = 1 is exactly the full model, whatever tau and measure.
  void lambda_one_is_full_model_data() { models_data(); }
  void lambda_one_is_full_model() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    Decoder decoder(model);
    DecodeOptions full = calm_options(1.0f);
    full.policy = ExitPolicy::Full;
    const auto reference = decoder.generate(kPrompt, full);
    for (float tau : {0.0f, 4.0f, 50.0f})
      for (Measure m : {Measure::Softmax, Measure::SoftmaxMax, Measure::State}) {
        DecodeOptions o = calm_options(1.0f, m);
        o.tau = tau;
        const auto r = decoder.generate(kPrompt, o);
        QCOMPARE(r.tokens, reference.tokens);
        for (int layer : r.exit_layers) QCOMPARE(layer, model.config.decoder_layers);
        QCOMPARE(r.flops, r.full_flops);
      }
  }

  // Trace on or off never changes the tokens or exits.
  void trace_does_not_change_tokens_data() { models_data(); }
  void trace_does_not_change_tokens() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    Decoder decoder(model);
    for (float lambda : {0.0f, 0.3f, 0.6f, 0.9f})
      for (Measure m : {Measure::Softmax, Measure::State}) {
        DecodeOptions o = calm_options(lambda, m);
        const auto plain = decoder.generate(kPrompt, o);
        o.trace = true;
        const auto traced = decoder.generate(kPrompt, o);
        QCOMPARE(traced.tokens, plain.tokens);
        QCOMPARE(traced.exit_layers, plain.exit_layers);
        QCOMPARE(traced.flops, plain.flops);
        for (const auto& t : traced.trace) {
          QCOMPARE(static_cast<int>(t.confidence.size()), model.config.decoder_layers);
          QCOMPARE(t.top[t.exit_layer - 1][0].id, t.token);  // greedy: the exit layer's top-1
        }
      }
  }

  // Propagated decoding equals the plain cache-free reference: same exit
  // decisions (confidence vs threshold), same tokens, same probabilities.
  void propagation_matches_plain_reference_data() { models_data(); }
  void propagation_matches_plain_reference() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    const int L = model.config.decoder_layers;
    const bool t5 = model.config.arch == Arch::EncoderDecoder;
    Decoder decoder(model);
    int exits_seen = 0;
    for (float lambda : {0.0f, 0.2f, 0.4f, 0.6f, 0.8f}) {
      DecodeOptions o = calm_options(lambda);
      o.trace = true;
      const auto r = decoder.generate(kPrompt, o);
      // Inputs and exits of every position the reference must recompute.
      std::vector<int> x, e;
      Matrix encoder_output;
      if (t5) {
        RunState state(model.config);
        encode(model, state, r.prompt_ids, &encoder_output);
        x.push_back(model.config.decoder_start_id);
      } else {
        x = r.prompt_ids;
        e.assign(x.size() - 1, L);  // the prompt runs at full depth
      }
      for (size_t i = 0; i < r.tokens.size(); ++i) {
        e.push_back(r.exit_layers[i]);
        if (i + 1 < r.tokens.size()) x.push_back(r.tokens[i]);
      }
      const auto states = plain_propagated_states(model, x, e, encoder_output);
      const size_t offset = x.size() - r.tokens.size();
      for (size_t i = 0; i < r.tokens.size(); ++i) {
        const Vector p = plain_probabilities(model, states[offset + i]);
        int best = 0;
        p.maxCoeff(&best);
        QCOMPARE(best, r.tokens[i]);
        const auto& top = r.trace[i].top[r.exit_layers[i] - 1];
        QVERIFY(std::abs(top[0].probability - p[best]) < 1e-4);
        // The exit rule: the confidence at the exit clears the threshold.
        if (r.exit_layers[i] < L) {
          QVERIFY(r.trace[i].exit_confidence >= r.trace[i].threshold);
          ++exits_seen;
        }
      }
    }
    QVERIFY2(exits_seen > 0, "no early exit happened: the test would prove nothing");
  }

  // With the exact cache, every emitted token is what the full-depth network
  // (recomputed afresh over the emitted sequence) predicts at its exit layer.
  void exact_cache_matches_recomputation_data() { models_data(); }
  void exact_cache_matches_recomputation() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    const bool t5 = model.config.arch == Arch::EncoderDecoder;
    for (float lambda : {0.0f, 0.3f, 0.6f}) {
      Decoder decoder(model);
      DecodeOptions o = calm_options(lambda);
      o.kv_mode = KvMode::Exact;
      const auto r = decoder.generate(kPrompt, o);
      std::vector<int> sequence = t5 ? std::vector<int>{model.config.decoder_start_id} : r.prompt_ids;
      sequence.insert(sequence.end(), r.tokens.begin(), r.tokens.end() - 1);
      Decoder fresh(model);
      const auto logits = fresh.layer_logits(t5 ? r.prompt_ids : std::vector<int>{}, sequence);
      const size_t offset = sequence.size() - r.tokens.size();
      for (size_t i = 0; i < r.tokens.size(); ++i) {
        Eigen::Index best = 0;
        logits[r.exit_layers[i] - 1].row(offset + i).maxCoeff(&best);
        QCOMPARE(static_cast<int>(best), r.tokens[i]);
      }
    }
  }

  // Several positions through a layer at once (matrix-matrix) equal the same
  // positions one at a time: hidden states and the K/V they write.
  void rows_equal_one_position_at_a_time_data() { models_data(); }
  void rows_equal_one_position_at_a_time() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    const ModelConfig& c = model.config;
    const bool t5 = c.arch == Arch::EncoderDecoder;
    const std::vector<int> ids = Decoder(model).prompt_ids(kPrompt);
    const int n = static_cast<int>(ids.size());
    RunState one(c), rows(c);
    if (t5) encode(model, one, ids), encode(model, rows, ids);
    Matrix block(n, c.d_model), single(n, c.d_model);
    std::vector<int> positions(n);
    for (int p = 0; p < n; ++p) {
      block.row(p) = model.weights.embedding.to_dense().row(ids[p]);
      positions[p] = p;
    }
    single = block;
    for (int l = 0; l < c.decoder_layers; ++l) {
      decoder_layer_rows(model, rows, l, positions, block);
      for (int p = 0; p < n; ++p) {
        Vector h = single.row(p).transpose();
        decoder_layer(model, one, l, p, h);
        single.row(p) = h.transpose();
      }
      QVERIFY2(relative_error(block, single) < 1e-5, qPrintable(QString("layer %1").arg(l)));
      QVERIFY(relative_error(rows.key[l].topRows(n), one.key[l].topRows(n)) < 1e-5);
      QVERIFY(relative_error(rows.value[l].topRows(n), one.value[l].topRows(n)) < 1e-5);
    }
  }

  // Catch-up defers the skipped layers and runs them batched with the next
  // deeper token; the cache ends up exact, so tokens and exits equal the
  // exact-cache run's.
  void catch_up_equals_exact_cache_data() { models_data(); }
  void catch_up_equals_exact_cache() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    Decoder decoder(model);
    int exits = 0;
    for (float lambda : {0.0f, 0.2f, 0.4f, 0.6f, 0.8f})
      for (Measure m : {Measure::Softmax, Measure::State}) {
        DecodeOptions o = calm_options(lambda, m);
        o.kv_mode = KvMode::Exact;
        const auto exact = decoder.generate(kPrompt, o);
        o.kv_mode = KvMode::CatchUp;
        const auto caught_up = decoder.generate(kPrompt, o);
        QCOMPARE(caught_up.tokens, exact.tokens);
        QCOMPARE(caught_up.exit_layers, exact.exit_layers);
        for (int e : exact.exit_layers) exits += e < model.config.decoder_layers;
      }
    QVERIFY2(exits > 0, "no early exit happened: the test would prove nothing");
  }

  // Verify mode reproduces the full model's greedy output whatever the draft
  // length and lambda, and the drafts really were corrected at times.
  void verify_mode_reproduces_full_model_data() { models_data(); }
  void verify_mode_reproduces_full_model() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    Decoder decoder(model);
    DecodeOptions full = calm_options(1.0f);
    full.policy = ExitPolicy::Full;
    int rejected = 0, accepted = 0;
    for (const char* prompt : {kPrompt, "In the beginning", "Blessed are the poor in spirit"}) {
      const auto reference = decoder.generate(prompt, full);
      for (float lambda : {0.0f, 0.3f, 0.6f, 0.9f})
        for (int draft : {1, 3, 8}) {
          DecodeOptions o = calm_options(lambda);
          o.verify_draft = draft;
          const auto r = decoder.generate(prompt, o);
          QCOMPARE(r.tokens, reference.tokens);
          QCOMPARE(r.text, reference.text);
          QVERIFY(r.accepted <= r.drafted);
          int discarded = 0;  // each correction discards the rest of its draft
          for (const auto& t : r.trace) {
            if (!t.verified) {
              QVERIFY(!t.rejected_drafts.empty());
              QVERIFY(t.rejected_drafts.front() != t.token);
              discarded += static_cast<int>(t.rejected_drafts.size());
            }
          }
          QCOMPARE(discarded, r.drafted - r.accepted);
          rejected += r.drafted - r.accepted;
          accepted += r.accepted;
        }
    }
    QVERIFY2(rejected > 0, "no draft was ever rejected: the correction path went untested");
    QVERIFY2(accepted > 0, "no draft was ever accepted");
  }

  // A gate that never passes keeps every token at full depth; one that always
  // passes changes nothing but the (tiny) cost of asking.
  void gate_before_softmax() {
    const Model model = load_model(CALM_FIXTURES_DIR "/models/llama-gqa-untied-f32");
    const int L = model.config.decoder_layers;
    Decoder decoder(model);
    const auto plain = decoder.generate(kPrompt, calm_options(0.0f));
    DecodeOptions o = calm_options(0.0f);
    o.gate = Gate::State;
    o.gate_threshold = -2.0f;
    const auto open = decoder.generate(kPrompt, o);
    QCOMPARE(open.tokens, plain.tokens);
    QCOMPARE(open.exit_layers, plain.exit_layers);
    QVERIFY(open.flops > plain.flops);
    o.gate_threshold = 1.5f;  // a cosine never reaches it
    const auto closed = decoder.generate(kPrompt, o);
    for (int layer : closed.exit_layers) QCOMPARE(layer, L);
    QVERIFY(closed.flops < closed.full_flops * 1.01);  // and no vocabulary projection was paid for checks
    const Model plain_model = load_model(CALM_FIXTURES_DIR "/models/t5-relu-tied");
    Decoder no_head(plain_model);
    o.gate = Gate::Classifier;
    QVERIFY_THROWS_EXCEPTION(Error, no_head.generate(kPrompt, o));
  }

  // The profile accounts for the run's time without counting any of it twice.
  void profile_adds_up() {
    const Model model = load_model(CALM_FIXTURES_DIR "/models/t5-gated-untied-f32");
    Decoder decoder(model);
    const auto r = decoder.generate(kPrompt, calm_options(0.3f));
    QVERIFY(r.profile.layers > 0);
    QVERIFY(r.profile.vocabulary > 0);
    QVERIFY(r.profile.total() <= r.seconds * 1.001 + 1e-6);
    QVERIFY(r.profile.total() >= r.seconds * 0.5);
  }

  void static_exit_and_oracle_data() { models_data(); }
  void static_exit_and_oracle() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    const int L = model.config.decoder_layers;
    Decoder decoder(model);
    for (int k = 1; k <= L; ++k) {
      DecodeOptions o = calm_options(1.0f);
      o.policy = ExitPolicy::Static;
      o.static_layer = k;
      const auto r = decoder.generate(kPrompt, o);
      for (int layer : r.exit_layers) QCOMPARE(layer, k);
    }
    DecodeOptions o = calm_options(1.0f);
    o.policy = ExitPolicy::Oracle;
    o.trace = true;
    const auto r = decoder.generate(kPrompt, o);
    for (const auto& t : r.trace) {
      // The first layer whose top-1 equals the top layer's.
      const int final_top = t.top[L - 1][0].id;
      QCOMPARE(t.top[t.exit_layer - 1][0].id, final_top);
      for (int l = 1; l < t.exit_layer; ++l) QVERIFY(t.top[l - 1][0].id != final_top);
      QCOMPARE(t.token, final_top);
    }
  }

  void early_exits_spend_less() {
    const Model model = load_model(CALM_FIXTURES_DIR "/models/llama-gqa-untied-f32");
    const int L = model.config.decoder_layers;
    Decoder decoder(model);
    DecodeOptions o = calm_options(1.0f);
    o.policy = ExitPolicy::Static;
    o.static_layer = 1;
    const auto r = decoder.generate(kPrompt, o);
    QCOMPARE(r.average_layers(), 1.0);
    // One layer, one vocabulary projection and L-1 propagations per token,
    // against L layers and one projection: well under the full cost.
    QVERIFY(r.flops < r.full_flops * (1.0 + 0.5) / L);
    // CALM at a low lambda exits early on some tokens and spends less.
    const auto calm = decoder.generate(kPrompt, calm_options(0.0f));
    QVERIFY(calm.average_layers() < L);
    QVERIFY(calm.flops < calm.full_flops);
  }

  // Going down a lambda grid, resuming from the previous run's shared prefix
  // gives exactly what a fresh run gives (the calibration sweep relies on it).
  void resume_equals_fresh_run_data() { models_data(); }
  void resume_equals_fresh_run() {
    QFETCH(QString, dir);
    const Model model = load_model(dir.toStdString());
    Decoder chained(model), fresh(model);
    int kept = 0, cut = 0;
    for (Measure m : {Measure::Softmax, Measure::State}) {
      DecodeOptions first = calm_options(0.95f, m);
      DecodeResult previous = chained.generate(kPrompt, first);
      for (float lambda = 0.9f; lambda > 0.0f; lambda -= 0.1f) {
        const DecodeOptions o = calm_options(lambda, m);
        const int keep = Decoder::shared_prefix(previous, o);
        const DecodeResult resumed = chained.resume(previous, keep, o);
        const DecodeResult reference = fresh.generate(kPrompt, o);
        QCOMPARE(resumed.tokens, reference.tokens);
        QCOMPARE(resumed.exit_layers, reference.exit_layers);
        QCOMPARE(resumed.text, reference.text);
        QVERIFY(std::abs(resumed.flops - reference.flops) <= 1e-9 * reference.flops);
        QCOMPARE(resumed.stopped_at_eos, reference.stopped_at_eos);
        kept += keep > 0;
        cut += keep < static_cast<int>(previous.tokens.size());
        previous = resumed;
      }
    }
    QVERIFY2(kept > 0 && cut > 0, "the grid never shared, or never diverged: the test would prove little");
    // Only the decoder's latest run can be resumed.
    const DecodeResult stale = chained.generate(kPrompt, calm_options(0.5f));
    chained.generate(kPrompt, calm_options(0.4f));
    QVERIFY_THROWS_EXCEPTION(Error, chained.resume(stale, 1, calm_options(0.3f)));
    QVERIFY_THROWS_EXCEPTION(Error, fresh.resume(stale, 1, calm_options(0.3f)));
  }

  // The token loop's confidence from logits equals the one from probabilities.
  void softmax_confidence_from_logits_matches() {
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 4.0f);
    for (int trial = 0; trial < 50; ++trial) {
      Vector logits(trial % 2 ? 4000 : 7);
      for (Eigen::Index i = 0; i < logits.size(); ++i) logits[i] = normal(rng);
      if (trial == 7) logits.setConstant(1.5f);  // a tie: the gap is 0
      Vector p = logits;
      softmax(p.data(), static_cast<int>(p.size()));
      for (Measure m : {Measure::Softmax, Measure::SoftmaxMax})
        QVERIFY(std::abs(softmax_confidence_from_logits(logits, m) - softmax_confidence(p, m)) < 1e-6f);
    }
  }

  void threshold_schedule() {
    // lambda_t = 0.9 lambda + 0.1 exp(-tau t / N): at t = 0 it is 0.9 lambda + 0.1.
    QCOMPARE(threshold_at(0.5f, 4.0f, 0, 10), 0.55f);
    // t = N/2, tau = 2: 0.45 + 0.1 e^-1.
    QVERIFY(std::abs(threshold_at(0.5f, 2.0f, 5, 10) - (0.45f + 0.1f * std::exp(-1.0f))) < 1e-6f);
    // tau = 0 keeps it constant.
    QCOMPARE(threshold_at(0.3f, 0.0f, 7, 10), threshold_at(0.3f, 0.0f, 0, 10));
    QVERIFY(never_exits(1.0f));
    QVERIFY(!never_exits(0.99f));
  }

  void sampling_is_seeded() {
    const Model model = load_model(CALM_FIXTURES_DIR "/models/llama-tied");
    Decoder decoder(model);
    DecodeOptions o = calm_options(1.0f);
    o.temperature = 1.0f;
    o.top_k = 5;
    o.seed = 7;
    const auto a = decoder.generate(kPrompt, o);
    const auto b = decoder.generate(kPrompt, o);
    QCOMPARE(a.tokens, b.tokens);
    bool any_differs = false;
    for (uint64_t seed = 8; seed < 16 && !any_differs; ++seed) {
      o.seed = seed;
      any_differs = decoder.generate(kPrompt, o).tokens != a.tokens;
    }
    QVERIFY(any_differs);
  }

  void callback_cancels() {
    const Model model = load_model(CALM_FIXTURES_DIR "/models/t5-gated-untied-f32");
    Decoder decoder(model);
    int calls = 0;
    const auto r = decoder.generate(kPrompt, calm_options(0.5f), [&](const TokenTrace&) { return ++calls < 3; });
    QCOMPARE(calls, 3);
    QCOMPARE(static_cast<int>(r.tokens.size()), 3);
    QVERIFY(r.cancelled);
  }

  void bad_requests_are_refused() {
    const Model plain = load_model(CALM_FIXTURES_DIR "/models/t5-relu-tied");
    Decoder decoder(plain);
    try {
      decoder.generate(kPrompt, calm_options(0.5f, Measure::Classifier));
      QFAIL("the classifier measure on a model without a head must be refused");
    } catch (const Error& e) {
      QVERIFY(QString(e.what()).contains("classifier"));
      QVERIFY(QString(e.what()).contains("t5-relu-tied"));
    }
    QVERIFY_THROWS_EXCEPTION(Error, decoder.generate("", calm_options(0.5f)));
    DecodeOptions sampled_verify = calm_options(0.5f);
    sampled_verify.verify_draft = 4;
    sampled_verify.temperature = 1.0f;
    QVERIFY_THROWS_EXCEPTION(Error, decoder.generate(kPrompt, sampled_verify));
    QVERIFY_THROWS_EXCEPTION(Error, decoder.generate("   ", calm_options(0.5f)));

    // Over-long prompts: refused by default, truncated on request.
    const Model llama = load_model(CALM_FIXTURES_DIR "/models/llama-tied");
    Decoder llama_decoder(llama);
    std::string long_prompt;
    for (int i = 0; i < 40; ++i) long_prompt += "And God said, Let there be light. ";
    DecodeOptions o = calm_options(1.0f);
    try {
      llama_decoder.generate(long_prompt, o);
      QFAIL("an over-long prompt must be refused");
    } catch (const Error& e) {
      QVERIFY(QString(e.what()).contains("context"));
    }
    o.truncate_prompt = true;
    const auto r = llama_decoder.generate(long_prompt, o);
    QVERIFY(r.prompt_truncated);
    QCOMPARE(static_cast<int>(r.prompt_ids.size()) + o.max_new_tokens, llama.config.max_positions);
    QCOMPARE(r.prompt_ids.front(), llama.config.bos_id);
  }
};

QTEST_APPLESS_MAIN(TestDecode)
#include "test_decode.moc"
