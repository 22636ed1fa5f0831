// Tests of the official sampler (docs/rwkv-math.md section 8.1) on fixed logits: greedy,
// the kept set of top_p / top_k, temperature, and the empirical distribution.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "runtime/model/model.h"
#include "runtime/sampler/sample_logits.h"
#include "test_tokenizer_vectors.h"  // TestRandom

namespace {

std::vector<float> random_logits(TestRandom& rnd, size_t n, double scale) {
  std::vector<float> l(n);
  for (auto& x : l) x = float((rnd.uniform() * 2 - 1) * scale);
  return l;
}

// Independent reference of 8.1 in double precision: softmax, descending order,
// first index whose cumulative sum reaches top_p, keep p >= cutoff, then top_k.
// `margin` receives how close any cumulative sum came to top_p, so callers can
// skip cases where fp32 rounding could decide differently.
std::set<int32_t> reference_kept(const std::vector<float>& logits, double top_p, int top_k, double* margin) {
  const size_t n = logits.size();
  const double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp(double(logits[i]) - mx);
  for (auto& x : p) x /= sum;
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[size_t(a)] > p[size_t(b)]; });
  double c = 0;
  size_t cut = 0;
  *margin = 1;
  bool found = false;
  for (size_t m = 0; m < n; ++m) {
    c += p[size_t(order[m])];
    *margin = std::min(*margin, std::fabs(c - top_p));
    if (!found && c >= top_p) {
      cut = m;
      found = true;
    }
  }
  std::set<int32_t> kept;
  for (size_t m = 0; m < n; ++m) {
    if (p[size_t(order[m])] < p[size_t(order[cut])]) continue;
    if (top_k > 0 && size_t(top_k) < n && m >= size_t(top_k)) continue;
    kept.insert(order[m]);
  }
  return kept;
}

std::set<int32_t> nonzero(const std::vector<double>& q) {
  std::set<int32_t> s;
  for (size_t i = 0; i < q.size(); ++i)
    if (q[i] > 0) s.insert(int32_t(i));
  return s;
}

}  // namespace

TEST_CASE("Sampler at temperature 0 returns the argmax", "[sampler]") {
  TestRandom rnd(1);
  rwkv::Rng rng(42);
  rwkv::SampleSettings s;
  s.temperature = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const auto logits = random_logits(rnd, 1000, 8);
    const auto argmax = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    CHECK(rwkv::sample_logits(logits.data(), logits.size(), s, rng) == argmax);
  }
}

TEST_CASE("Greedy ties are sampled uniformly among the tied tokens only", "[sampler]") {
  std::vector<float> logits = {0.f, 3.f, 1.f, 3.f, -2.f};
  rwkv::SampleSettings s;
  s.temperature = 0;
  const auto q = rwkv::sampling_distribution(logits.data(), logits.size(), s);
  CHECK(nonzero(q) == std::set<int32_t>{1, 3});
  CHECK(q[1] == Approx(0.5));
  rwkv::Rng rng(7);
  int count1 = 0;
  for (int i = 0; i < 10000; ++i) count1 += rwkv::sample_logits(logits.data(), logits.size(), s, rng) == 1;
  CHECK(std::abs(count1 - 5000) < 5 * 50);  // 5 sigma of Binomial(10000, 0.5)
  // top_k cuts the ties in the sort's order: the higher index first.
  const std::vector<float> three = {3.f, 0.f, 3.f, 3.f};
  for (int k : {1, 2, 3}) {
    s.top_k = k;
    const std::set<int32_t> want = k == 1 ? std::set<int32_t>{3} : k == 2 ? std::set<int32_t>{2, 3} : std::set<int32_t>{0, 2, 3};
    CHECK(nonzero(rwkv::sampling_distribution(three.data(), three.size(), s)) == want);
  }
}

TEST_CASE("Greedy draws equal the full path's, near-ties and the random stream included", "[sampler]") {
  // sample_logits decides a greedy draw with one candidate without the softmax;
  // it must give the token draw_index(sampling_distribution()) gives and take
  // the same draw from the generator (a later sampled token depends on it).
  TestRandom rnd(11);
  // Greedy three ways: temperature 0 (top_p ignored), and top_p 0 or below at another temperature.
  const std::pair<double, double> greedy_settings[] = {{0.0, 0.85}, {0.7, 0.0}, {0.7, -1.0}};
  for (const auto& [temperature, top_p] : greedy_settings) {
    rwkv::SampleSettings s;
    s.temperature = temperature;
    s.top_p = top_p;
    for (int trial = 0; trial < 300; ++trial) {
      auto logits = random_logits(rnd, 700, 6);
      const size_t top = size_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
      // A rival at 0, 1, 2, 8 ulps, 1e-4, 9e-4 and 2e-3 below the largest logit.
      const float gaps[] = {0.f, 1.f, 2.f, 8.f, -1e-4f, -9e-4f, -2e-3f};
      const float gap = gaps[trial % 7];
      float rival = logits[top];
      if (gap >= 0)
        for (int u = 0; u < int(gap); ++u) rival = std::nextafter(rival, -INFINITY);
      else
        rival = logits[top] + gap;
      logits[(top + 1 + size_t(trial)) % logits.size()] = rival;
      rwkv::Rng fast(1000 + uint64_t(trial)), full(1000 + uint64_t(trial));
      const int32_t a = rwkv::sample_logits(logits.data(), logits.size(), s, fast);
      const int32_t b = rwkv::draw_index(rwkv::sampling_distribution(logits.data(), logits.size(), s), full);
      CHECK(a == b);
      CHECK(fast.uniform() == full.uniform());
    }
  }
}

TEST_CASE("Kept set of top_p and top_k equals an independent computation", "[sampler]") {
  TestRandom rnd(2);
  int checked = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const size_t n = 2 + rnd.below(trial < 300 ? 60 : 3000);
    const auto logits = random_logits(rnd, n, 1 + rnd.uniform() * 6);
    const double top_p = rnd.below(5) == 0 ? 0.0 : rnd.uniform();
    const int top_k = rnd.below(3) == 0 ? int(rnd.below(n + 2)) : 0;
    double margin;
    const auto expect = reference_kept(logits, top_p, top_k, &margin);
    if (margin < 1e-5) continue;  // fp32 rounding could decide either way
    rwkv::SampleSettings s;
    s.top_p = top_p;
    s.top_k = top_k;
    s.temperature = 0.3 + rnd.uniform() * 2;
    INFO("n " << n << " top_p " << top_p << " top_k " << top_k);
    CHECK(nonzero(rwkv::sampling_distribution(logits.data(), n, s)) == expect);
    ++checked;
  }
  CHECK(checked > 300);
}

TEST_CASE("Temperature reshapes the kept probabilities as softmax(logits / T)", "[sampler]") {
  TestRandom rnd(3);
  for (double T : {0.25, 0.7, 1.0, 1.8}) {
    const auto logits = random_logits(rnd, 50, 3);
    rwkv::SampleSettings s;
    s.temperature = T;
    s.top_p = 0.8;
    const auto q = rwkv::sampling_distribution(logits.data(), logits.size(), s);
    double z = 0;
    for (size_t i = 0; i < q.size(); ++i)
      if (q[i] > 0) z += std::exp(double(logits[i]) / T);
    for (size_t i = 0; i < q.size(); ++i) {
      if (q[i] > 0) CHECK(q[i] == Approx(std::exp(double(logits[i]) / T) / z).epsilon(1e-5));
    }
  }
}

TEST_CASE("top_p quirks: 0 and an fp32 sum that never reaches top_p give greedy", "[sampler]") {
  TestRandom rnd(4);
  rwkv::SampleSettings s;
  s.top_p = 0;
  const auto logits = random_logits(rnd, 100, 2);
  const auto argmax = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  CHECK(nonzero(rwkv::sampling_distribution(logits.data(), logits.size(), s)) == std::set<int32_t>{argmax});

  // top_p = 1: find logits whose fp32 probabilities, summed in descending
  // order in fp32 (numpy's cumsum), end below 1; pip then falls back to index 0.
  s.top_p = 1.0;
  int found = 0;
  for (int trial = 0; trial < 200 && found < 5; ++trial) {
    const auto l = random_logits(rnd, 200, 3);
    const float mx = *std::max_element(l.begin(), l.end());
    std::vector<float> p(l.size());
    double sum = 0;
    for (size_t i = 0; i < l.size(); ++i) sum += p[i] = std::exp(l[i] - mx);
    for (auto& x : p) x = float(x / sum);
    std::vector<float> sorted = p;
    std::sort(sorted.rbegin(), sorted.rend());
    float c = 0;
    size_t first_reach = sorted.size();
    for (size_t m = 0; m < sorted.size(); ++m) {
      c += sorted[m];
      if (c >= 1.0f && first_reach == sorted.size()) first_reach = m;
    }
    const auto q = rwkv::sampling_distribution(l.data(), l.size(), s);
    std::set<int32_t> expect;
    const float cutoff = first_reach < sorted.size() ? sorted[first_reach] : sorted[0];
    for (size_t i = 0; i < p.size(); ++i)
      if (p[i] >= cutoff) expect.insert(int32_t(i));
    if (first_reach == sorted.size()) {
      ++found;
      const auto am = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
      CHECK(expect == std::set<int32_t>{am});
    }
    CHECK(nonzero(q) == expect);
  }
  CHECK(found > 0);
}

TEST_CASE("Draws over many seeded samples follow the target distribution (chi-square)", "[sampler]") {
  TestRandom rnd(5);
  const auto logits = random_logits(rnd, 40, 2.5);
  rwkv::SampleSettings s;
  s.top_p = 0.9;
  s.top_k = 12;
  s.temperature = 0.8;
  // Expected: the independent kept set, weighted by exp(logit / T).
  double margin;
  const auto kept = reference_kept(logits, s.top_p, s.top_k, &margin);
  REQUIRE(margin > 1e-5);
  std::vector<double> expect(logits.size(), 0.0);
  double z = 0;
  for (int32_t i : kept) z += expect[size_t(i)] = std::exp(double(logits[size_t(i)]) / s.temperature);
  for (auto& e : expect) e /= z;

  const int draws = 200000;
  std::vector<int> count(logits.size(), 0);
  rwkv::Rng rng(20240501);
  for (int i = 0; i < draws; ++i) ++count[size_t(rwkv::sample_logits(logits.data(), logits.size(), s, rng))];
  double chi2 = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (expect[i] == 0) {
      CHECK(count[i] == 0);  // never a token outside the kept set
      continue;
    }
    const double e = expect[i] * draws;
    chi2 += (count[i] - e) * (count[i] - e) / e;
  }
  // Upper 0.1% point of chi-square with kept.size() - 1 degrees of freedom
  // (Wilson-Hilferty approximation; z = 3.09 for 0.999).
  const double k = double(kept.size()) - 1;
  const double bound = k * std::pow(1 - 2 / (9 * k) + 3.09 * std::sqrt(2 / (9 * k)), 3);
  INFO("chi2 " << chi2 << " bound " << bound << " df " << k);
  CHECK(kept.size() >= 3);
  CHECK(chi2 < bound);
}

TEST_CASE("Bad sampler input raises rwkv::Error", "[sampler]") {
  rwkv::Rng rng(0);
  rwkv::SampleSettings s;
  std::vector<float> all_banned(10, -INFINITY);
  CHECK_THROWS_AS(rwkv::sample_logits(all_banned.data(), 10, s, rng), rwkv::Error);
  std::vector<float> nan_logit = {0.f, NAN, 1.f};
  CHECK_THROWS_AS(rwkv::sample_logits(nan_logit.data(), 3, s, rng), rwkv::Error);
  std::vector<float> ok = {0.f, 1.f};
  s.temperature = -1;
  CHECK_THROWS_AS(rwkv::sample_logits(ok.data(), 2, s, rng), rwkv::Error);
  CHECK_THROWS_AS(rwkv::sample_logits(ok.data(), 0, rwkv::SampleSettings{}, rng), rwkv::Error);
}
