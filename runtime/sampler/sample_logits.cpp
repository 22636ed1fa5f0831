// runtime/sampler/sample_logits.cpp: see sample_logits.h (docs/rwkv-math.md section 8.1).
#include "runtime/sampler/sample_logits.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/core/error.h"

namespace rwkv {
namespace {

// Indices of the p[i] >= p_floor (all p >= 0, no NaN) by descending p, the
// higher index first among equal values. LSD radix sort of the fp32 bit
// patterns (monotonic for p >= 0), stable, starting from the indices in
// descending order: O(n), a fraction of a millisecond for 65536 tokens.
std::vector<int32_t> descending_order(const std::vector<float>& p, float p_floor) {
  std::vector<uint64_t> a, b;
  a.reserve(p.size());
  for (size_t j = p.size(); j-- > 0;) {
    if (!(p[j] >= p_floor)) continue;
    uint32_t bits;
    std::memcpy(&bits, &p[j], sizeof bits);
    a.push_back((uint64_t(~bits) << 32) | uint32_t(j));  // ascending ~bits = descending p
  }
  const size_t n = a.size();
  b.resize(n);
  for (int shift = 32; shift < 64; shift += 8) {
    size_t count[257] = {0};
    for (uint64_t k : a) ++count[((k >> shift) & 255) + 1];
    if (std::find(count + 1, count + 257, n) != count + 257) continue;  // one digit value: nothing to do
    for (int d = 0; d < 256; ++d) count[d + 1] += count[d];
    for (uint64_t k : a) b[count[(k >> shift) & 255]++] = k;
    a.swap(b);
  }
  std::vector<int32_t> order(n);
  for (size_t j = 0; j < n; ++j) order[j] = int32_t(uint32_t(a[j]));
  return order;
}

// The indices of the largest p, higher index first: the prefix of
// descending_order(p, 0) that holds the maximum.
std::vector<int32_t> largest_ties(const std::vector<float>& p) {
  const float p_max = *std::max_element(p.begin(), p.end());
  std::vector<int32_t> ties;
  for (size_t j = p.size(); j-- > 0;)
    if (p[j] == p_max) ties.push_back(int32_t(j));
  return ties;
}

// First index m of `order` whose fp32 running sum of p reaches top_p, or -1.
long first_reaching(const std::vector<float>& p, const std::vector<int32_t>& order, float top_p) {
  float c = 0;
  for (size_t m = 0; m < order.size(); ++m) {
    c += p[size_t(order[m])];
    if (c >= top_p) return long(m);
  }
  return -1;
}

// A greedy draw (top_p <= 0, which temperature 0 means) keeps the tokens whose
// p ties with the largest. A logit more than 1e-3 below the largest gives
// p <= e^-0.001 p_max, about 1e-3 apart, which no fp32 rounding of the softmax
// closes (its steps are ~1e-7 relative): when one token alone is within 1e-3
// of the largest logit, it is the draw, found without the softmax. -1 when
// that does not decide (several candidates, or a NaN or infinite largest
// logit, which the full path reports).
long single_greedy_candidate(const float* logits, size_t n) {
  float max_logit = -INFINITY;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(logits[i])) return -1;
    max_logit = std::max(max_logit, logits[i]);
  }
  if (!std::isfinite(max_logit)) return -1;
  long found = -1;
  for (size_t i = 0; i < n; ++i) {
    if (logits[i] >= max_logit - 1e-3f) {
      if (found >= 0) return -1;
      found = long(i);
    }
  }
  return found;
}

}  // namespace

std::vector<double> sampling_distribution(const float* logits, size_t n, const SampleSettings& s) {
  if (n == 0) throw Error("sampler: empty logits");
  double temperature = s.temperature;
  double top_p = s.top_p;
  if (std::isnan(temperature) || temperature < 0) throw Error("sampler: temperature must be >= 0");
  if (std::isnan(top_p)) throw Error("sampler: top_p is NaN");
  if (temperature == 0) {  // greedy, as pip does it
    temperature = 1;
    top_p = 0;
  }

  // 8.1 step 2: p = softmax(fp32 logits) at temperature 1.
  float max_logit = -INFINITY;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(logits[i])) throw Error("sampler: logit " + std::to_string(i) + " is NaN");
    max_logit = std::max(max_logit, logits[i]);
  }
  if (max_logit == -INFINITY) throw Error("sampler: every token has a logit of -inf (all banned?)");
  if (max_logit == INFINITY) throw Error("sampler: a logit is +inf");
  std::vector<float> p(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    p[i] = std::exp(logits[i] - max_logit);
    sum += p[i];
  }
  for (size_t i = 0; i < n; ++i) p[i] = float(p[i] / sum);

  // Step 3: descending order, fp32 running sum (np.cumsum on fp32), first
  // index reaching top_p (compared in fp32, as numpy does). The tokens below
  // `p_floor` hold at most n * p_floor = (1 - top_p) / 2 of the mass, so the sum
  // normally reaches top_p among the others, whose order is the same prefix
  // as in the full sort; if it does not, everything is sorted.
  const float top_p32 = float(top_p);
  const float p_floor = top_p32 < 1 ? (1 - top_p32) / float(2 * n) : 0.f;
  // top_p <= 0 (greedy among others): the first token of the order reaches it,
  // so only the ties of the largest p can be kept; they are the full order's
  // prefix (higher index first), found without sorting.
  std::vector<int32_t> order = top_p32 <= 0 ? largest_ties(p) : descending_order(p, p_floor);
  long reach = first_reaching(p, order, top_p32);
  if (reach < 0 && p_floor > 0) {
    order = descending_order(p, 0.f);
    reach = first_reaching(p, order, top_p32);
  }
  const size_t cut = reach < 0 ? 0 : size_t(reach);  // quirk 1: no c_m reaches top_p -> index 0
  const float cutoff = p[size_t(order[cut])];
  // Every kept token (p >= cutoff >= p_floor) is in `order`.
  const size_t limit = std::min(order.size(), s.top_k > 0 && size_t(s.top_k) < n ? size_t(s.top_k) : n);

  // Steps 3-4: the kept set. Step 5: temperature on probabilities.
  std::vector<double> q(n, 0.0);
  const double p_max = p[size_t(order[0])];
  double total = 0;
  for (size_t m = 0; m < limit; ++m) {
    const size_t i = size_t(order[m]);
    if (p[i] < cutoff) break;  // sorted descending: nothing further is kept
    q[i] = temperature == 1.0 ? double(p[i]) : std::pow(double(p[i]) / p_max, 1.0 / temperature);
    total += q[i];
  }
  for (double& x : q) x /= total;
  return q;
}

int32_t draw_index(const std::vector<double>& probs, Rng& rng) {
  double total = 0;
  for (double x : probs) total += x;
  const double target = rng.uniform() * total;
  double c = 0;
  int32_t last = -1;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0) continue;
    c += probs[i];
    last = int32_t(i);
    if (target < c) return last;
  }
  if (last < 0) throw Error("sampler: no token has a positive probability");
  return last;  // rounding left target at the very end
}

int32_t sample_logits(const float* logits, size_t n, const SampleSettings& s, Rng& rng) {
  // Greedy with one candidate: the same token, and the same draw taken from
  // rng, as the full path (which would pick it with probability 1).
  const bool greedy = s.temperature == 0 || (s.temperature > 0 && s.top_p <= 0);
  if (greedy && !std::isnan(s.top_p) && n > 0) {
    const long only = single_greedy_candidate(logits, n);
    if (only >= 0) {
      (void)rng.uniform();
      return int32_t(only);
    }
  }
  return draw_index(sampling_distribution(logits, n, s), rng);
}

}  // namespace rwkv
