#include "ml/linear.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

#include "columnar/parallel.h"
#include "kernels/kernels.h"

namespace pipeline::ml {

namespace {

// Rows per block of a pass: a block's columns and its scratch stay in the
// core's cache while every pair of features is multiplied.
constexpr int64_t kBlockRows = 2048;

int Threads(int requested) { return requested > 0 ? requested : columnar::DefaultThreads(); }

int64_t BlockCount(int64_t rows) { return (rows + kBlockRows - 1) / kBlockRows; }

// Scratch of the calling thread, grown as needed and kept between blocks:
// slot 0 for a block's columns, slot 1 for a block's partial sums.
double* Scratch(size_t size, int slot = 0) {
  thread_local std::vector<double> scratch[2];
  if (scratch[slot].size() < size) scratch[slot].resize(size);
  return scratch[slot].data();
}

// Runs fn(begin, length, out) over the row blocks on `threads` threads and
// returns the sum of what the calls added to `out` (a vector of `width`).
// The blocks are dealt into a fixed number of chunks, each summed in block
// order and the chunks then in chunk order, so that the sum does not depend
// on the thread count, and the memory is kChunks x width whatever the rows.
constexpr size_t kChunks = 16;

template <class Fn>
std::vector<double> SumOverBlocks(int64_t rows, size_t width, int threads, Fn&& fn) {
  const int64_t blocks = BlockCount(rows);
  const size_t chunks = std::min<size_t>(kChunks, size_t(std::max<int64_t>(blocks, 1)));
  std::vector<double> partial(chunks * width, 0.0);
  columnar::ParallelFor(chunks, threads, [&](size_t chunk) {
    double* sum = partial.data() + chunk * width;
    double* part = Scratch(width, 1);
    for (int64_t block = int64_t(chunk); block < blocks; block += int64_t(chunks)) {
      const int64_t begin = block * kBlockRows;
      std::fill(part, part + width, 0.0);
      fn(begin, std::min(kBlockRows, rows - begin), part);
      for (size_t k = 0; k < width; ++k) sum[k] += part[k];
    }
  });
  std::vector<double> total(width, 0.0);
  for (size_t chunk = 0; chunk < chunks; ++chunk) {
    const double* part = partial.data() + chunk * width;
    for (size_t k = 0; k < width; ++k) total[k] += part[k];
  }
  return total;
}

std::string Shortest(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

std::string Quote(const Design& design, int column) {
  return "'" + (size_t(column) < design.names.size() ? design.names[size_t(column)] : std::to_string(column)) + "'";
}

// row[j] = dot(a, columns[j]) for j in [0, count), four at a time.
void DotsWith(const double* a, const double* columns, int64_t m, int count, double* row) {
  int j = 0;
  for (; j + 4 <= count; j += 4) {
    const double* b = columns + size_t(j) * m;
    kernels::Dot4(a, b, b + m, b + 2 * m, b + 3 * m, m, row + j);
  }
  for (; j < count; ++j) row[j] = kernels::Dot(a, columns + size_t(j) * m, m);
}

// The solvers work on each feature centred on its mean and scaled into
// [-1, 1] by a power of two (exact: no rounding but the centring's): a
// feature far from 0 (epoch seconds, a mean of 1.7e9 and a spread of hours)
// or of any magnitude a double holds is then as well conditioned as any
// other, and the coefficients map back exactly. A constant feature is
// centred on its value (exactly 0 after, not rounding noise around the
// mean) and flagged.
struct Standardized {
  std::vector<double> centre, inverse_scale;
  std::vector<char> constant;
};

Standardized Standardize(const Design& design, int threads) {
  const size_t p = design.columns.size();
  const int64_t n = design.rows;
  Standardized s;
  s.centre.assign(p, 0.0);
  s.inverse_scale.assign(p, 1.0);
  s.constant.assign(p, 0);
  std::vector<char> overflow(p, 0);
  columnar::ParallelFor(p, threads, [&](size_t j) {
    const double* x = design.columns[j];
    if (n == 0 || std::all_of(x, x + n, [&](double v) { return v == x[0]; })) {
      s.centre[j] = n ? x[0] : 0.0;
      s.constant[j] = 1;
      return;
    }
    double mean = kernels::Total(x, n) / double(n);
    if (!std::isfinite(mean)) {  // the sum overflowed: add the values scaled down
      double largest = 0;
      for (int64_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(x[i]));
      int e = 0;
      std::frexp(largest, &e);
      const double down = std::ldexp(1.0, -e);
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += x[i] * down;
      mean = sum / double(n) / down;
    }
    double spread = 0;
    for (int64_t i = 0; i < n; ++i) spread = std::max(spread, std::fabs(x[i] - mean));
    if (!std::isfinite(spread) || !std::isfinite(mean)) {
      overflow[j] = 1;
      return;
    }
    int e = 0;
    std::frexp(spread, &e);  // spread <= 2^e
    s.centre[j] = mean;
    s.inverse_scale[j] = std::ldexp(1.0, -e);
  });
  for (size_t j = 0; j < p; ++j) {
    if (overflow[j]) {
      throw ModelError("feature " + Quote(design, int(j)) +
                       " spans more than a double holds (values of both signs near 1.8e308): rescale it");
    }
  }
  return s;
}

// dst[i] = (x[i] - centre) * inverse_scale for one block of rows.
void StandardizeBlock(const double* x, int64_t m, double centre, double inverse_scale, double* dst) {
  for (int64_t i = 0; i < m; ++i) dst[i] = (x[i] - centre) * inverse_scale;
}

}  // namespace

int CholeskySolve(std::vector<double>& a, std::vector<double>& b, int n) {
  // A = L L^T, L overwriting the lower triangle, row by row.
  for (int j = 0; j < n; ++j) {
    const double original = a[size_t(j) * n + j];
    double diag = original;
    for (int k = 0; k < j; ++k) diag -= a[size_t(j) * n + k] * a[size_t(j) * n + k];
    // What is left of the diagonal once the earlier variables explain theirs:
    // (almost) nothing means this variable is (almost) a combination of them.
    if (!(diag > original * 1e-12) || !(diag > 0)) return j;
    const double l = std::sqrt(diag);
    a[size_t(j) * n + j] = l;
    for (int i = j + 1; i < n; ++i) {
      double v = a[size_t(i) * n + j];
      for (int k = 0; k < j; ++k) v -= a[size_t(i) * n + k] * a[size_t(j) * n + k];
      a[size_t(i) * n + j] = v / l;
    }
  }
  for (int i = 0; i < n; ++i) {  // L y = b
    double v = b[size_t(i)];
    for (int k = 0; k < i; ++k) v -= a[size_t(i) * n + k] * b[size_t(k)];
    b[size_t(i)] = v / a[size_t(i) * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {  // L^T x = y
    double v = b[size_t(i)];
    for (int k = i + 1; k < n; ++k) v -= a[size_t(k) * n + i] * b[size_t(k)];
    b[size_t(i)] = v / a[size_t(i) * n + i];
  }
  return -1;
}

LinearModel FitLinearRegression(const Design& design, const LinearRegressionOptions& options) {
  const int p = int(design.columns.size());
  const int64_t n = design.rows;
  if (!(options.l2 >= 0) || !std::isfinite(options.l2)) throw ModelError("l2 must be a number >= 0");
  // Ridge is well posed with any number of rows; least squares needs more
  // rows than unknowns.
  if (options.l2 == 0 ? n < p + 1 : n < 1) {
    throw ModelError("linear_regression needs more rows than features: " + std::to_string(n) + " rows for " +
                     std::to_string(p) + " features and the intercept (or set params.l2: ridge fits any number)");
  }
  const int threads = Threads(options.threads);
  const Standardized z = Standardize(design, threads);
  for (int j = 0; j < p; ++j) {
    if (z.constant[size_t(j)] && options.l2 == 0) {
      throw ModelError("feature " + Quote(design, j) + " is constant in the training rows: drop it, or set params.l2");
    }
  }
  const double y_mean = kernels::Total(design.target, n) / double(n);
  // Lower triangle of the Gram matrix of the standardized features (p x p),
  // then their products with the centred target (p).
  const size_t width = size_t(p) * p + p;
  std::vector<double> sums = SumOverBlocks(n, width, threads, [&](int64_t begin, int64_t m, double* out) {
    double* centred = Scratch(size_t(p + 1) * m);
    for (int j = 0; j < p; ++j) {
      StandardizeBlock(design.columns[size_t(j)] + begin, m, z.centre[size_t(j)], z.inverse_scale[size_t(j)],
                       centred + size_t(j) * m);
    }
    StandardizeBlock(design.target + begin, m, y_mean, 1.0, centred + size_t(p) * m);
    const double* yc = centred + size_t(p) * m;
    for (int i = 0; i < p; ++i) {
      const double* xi = centred + size_t(i) * m;
      DotsWith(xi, centred, m, i + 1, out + size_t(i) * p);  // the lower triangle's row i
      out[size_t(p) * p + i] = kernels::Dot(xi, yc, m);
    }
  });
  std::vector<double> gram(sums.begin(), sums.begin() + ptrdiff_t(p) * p);
  std::vector<double> rhs(sums.begin() + ptrdiff_t(p) * p, sums.end());
  // The penalty is on the coefficients of the features as given: l2 c^2 =
  // l2 (c' * inverse_scale)^2 for the standardized coefficient c'.
  for (int j = 0; j < p; ++j) {
    const double k = z.inverse_scale[size_t(j)];
    gram[size_t(j) * p + j] += options.l2 * k * k;
  }
  int bad = CholeskySolve(gram, rhs, p);
  if (bad >= 0) {
    throw ModelError("the features are linearly dependent (the Gram matrix is singular): feature " + Quote(design, bad) +
                     " is a combination of the features before it; drop it, or set params.l2 (ridge) to fit anyway");
  }
  LinearModel model;
  model.coef.resize(size_t(p));
  model.intercept = y_mean;
  for (int j = 0; j < p; ++j) {
    model.coef[size_t(j)] = rhs[size_t(j)] * z.inverse_scale[size_t(j)];
    model.intercept -= z.centre[size_t(j)] * model.coef[size_t(j)];
  }
  return model;
}

namespace {

// The penalised objective at one point: value, gradient and Hessian (lower
// triangle, row-major) over the p coefficients and the intercept (last).
struct Objective {
  double value = 0;
  std::vector<double> gradient;
  std::vector<double> hessian;
};

// Over the standardized features (`beta` their coefficients, then the
// intercept); the penalty is on the coefficients of the features as given.
Objective EvaluateLogistic(const Design& design, const Standardized& standard, const std::vector<double>& weights,
                           const std::vector<double>& beta, double l2, int threads) {
  const int p = int(design.columns.size());
  const int q = p + 1;
  const size_t width = 1 + size_t(q) + size_t(q) * q;
  std::vector<double> sums =
      SumOverBlocks(design.rows, width, threads, [&](int64_t begin, int64_t m, double* out) {
        double* z = Scratch(size_t(3 + 2 * p) * m);
        double* r = z + m;
        double* h = r + m;
        double* hx = h + m;               // p columns of h * x_j
        double* xs = hx + size_t(p) * m;  // p standardized columns
        std::fill(z, z + m, beta[size_t(p)]);
        for (int j = 0; j < p; ++j) {
          double* xj = xs + size_t(j) * m;
          StandardizeBlock(design.columns[size_t(j)] + begin, m, standard.centre[size_t(j)],
                           standard.inverse_scale[size_t(j)], xj);
          kernels::Axpy(beta[size_t(j)], xj, z, m);
        }
        out[0] = kernels::LogisticTerms(z, design.target + begin, weights.empty() ? nullptr : weights.data() + begin,
                                        m, r, h);
        double* gradient = out + 1;
        double* hessian = out + 1 + q;
        for (int j = 0; j < p; ++j) {
          const double* xj = xs + size_t(j) * m;
          gradient[j] = kernels::Dot(xj, r, m);
          kernels::Multiply(h, xj, hx + size_t(j) * m, m);
        }
        gradient[p] = kernels::Total(r, m);
        for (int i = 0; i < p; ++i) {
          const double* xi = xs + size_t(i) * m;
          DotsWith(xi, hx, m, i + 1, hessian + size_t(i) * q);  // the lower triangle's row i
        }
        for (int j = 0; j < p; ++j) hessian[size_t(p) * q + j] = kernels::Total(hx + size_t(j) * m, m);
        hessian[size_t(p) * q + p] = kernels::Total(h, m);
      });
  Objective f;
  f.value = sums[0];
  f.gradient.assign(sums.begin() + 1, sums.begin() + 1 + q);
  f.hessian.assign(sums.begin() + 1 + q, sums.end());
  for (int j = 0; j < p; ++j) {
    const double k = standard.inverse_scale[size_t(j)], penalty = l2 * k * k;
    f.value += 0.5 * penalty * beta[size_t(j)] * beta[size_t(j)];
    f.gradient[size_t(j)] += penalty * beta[size_t(j)];
    f.hessian[size_t(j) * q + j] += penalty;
  }
  return f;
}

}  // namespace

LogisticFit FitLogisticRegression(const Design& design, const LogisticRegressionOptions& options) {
  const int p = int(design.columns.size());
  const int q = p + 1;
  const int64_t n = design.rows;
  if (!(options.l2 >= 0) || !std::isfinite(options.l2)) throw ModelError("l2 must be a number >= 0");
  if (options.max_iter < 1) throw ModelError("max_iter must be at least 1");
  if (!(options.tol > 0)) throw ModelError("tol must be a number > 0");
  int64_t positives = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double y = design.target[i];
    if (y != 0 && y != 1) {
      throw ModelError("logistic_regression needs a target of 0 and 1; the training rows hold " + Shortest(y));
    }
    positives += y == 1;
  }
  if (positives == 0 || positives == n) {
    throw ModelError(std::string("the training rows hold one class only (every target is ") + (positives ? "1" : "0") +
                     "): a classifier needs both");
  }
  const int threads = Threads(options.threads);
  const Standardized standard = Standardize(design, threads);
  for (int j = 0; j < p; ++j) {
    if (standard.constant[size_t(j)] && options.l2 == 0) {
      throw ModelError("feature " + Quote(design, j) + " is constant in the training rows: drop it, or set params.l2");
    }
  }
  std::vector<double> weights;
  double weight_sum = double(n);
  if (options.balanced) {
    const double w1 = double(n) / (2.0 * double(positives));
    const double w0 = double(n) / (2.0 * double(n - positives));
    weights.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) weights[size_t(i)] = design.target[i] == 1 ? w1 : w0;
    weight_sum = w1 * double(positives) + w0 * double(n - positives);
  }
  LogisticFit fit;
  std::vector<double> beta(size_t(q), 0.0);
  Objective f = EvaluateLogistic(design, standard, weights, beta, options.l2, threads);
  for (;;) {
    double largest = 0;
    for (double g : f.gradient) largest = std::max(largest, std::fabs(g));
    if (largest <= options.tol * weight_sum) {
      fit.converged = true;
      break;
    }
    if (fit.iterations >= options.max_iter) break;
    if (options.stop && options.stop()) throw Stopped();
    ++fit.iterations;
    // Newton direction: H d = -g. Without l2 a separable class makes H
    // nearly singular: a touch of ridge keeps the step defined.
    std::vector<double> h = f.hessian;
    std::vector<double> d(static_cast<size_t>(q));
    for (int j = 0; j < q; ++j) d[size_t(j)] = -f.gradient[size_t(j)];
    if (const int bad = CholeskySolve(h, d, q); bad >= 0) {
      // At the start (every margin 0) the Hessian is a quarter of the
      // (weighted) Gram matrix: singular there means dependent features.
      if (fit.iterations == 1 && options.l2 == 0 && bad < p) {
        throw ModelError("the features are linearly dependent: feature " + Quote(design, bad) +
                         " is a combination of the features before it; drop it, or set params.l2");
      }
      double trace = 0;
      for (int j = 0; j < q; ++j) trace += f.hessian[size_t(j) * q + j];
      h = f.hessian;
      for (int j = 0; j < q; ++j) h[size_t(j) * q + j] += 1e-10 * trace / q + 1e-300;
      for (int j = 0; j < q; ++j) d[size_t(j)] = -f.gradient[size_t(j)];
      if (CholeskySolve(h, d, q) >= 0) break;
    }
    double slope = 0;
    for (int j = 0; j < q; ++j) slope += f.gradient[size_t(j)] * d[size_t(j)];
    // Backtracking (Armijo): a full step almost always holds.
    bool moved = false;
    for (double t = 1.0; t > 1e-10; t *= 0.5) {
      std::vector<double> next(static_cast<size_t>(q));
      for (int j = 0; j < q; ++j) next[size_t(j)] = beta[size_t(j)] + t * d[size_t(j)];
      Objective g = EvaluateLogistic(design, standard, weights, next, options.l2, threads);
      if (g.value <= f.value + 1e-4 * t * slope) {
        beta = std::move(next);
        f = std::move(g);
        moved = true;
        break;
      }
    }
    if (!moved) break;  // no decrease left to find in double precision
  }
  fit.model.coef.resize(size_t(p));
  fit.model.intercept = beta[size_t(p)];
  for (int j = 0; j < p; ++j) {
    fit.model.coef[size_t(j)] = beta[size_t(j)] * standard.inverse_scale[size_t(j)];
    fit.model.intercept -= standard.centre[size_t(j)] * fit.model.coef[size_t(j)];
  }
  fit.loss = f.value / weight_sum;
  return fit;
}

void PredictLinear(const LinearModel& model, const std::vector<const double*>& columns, int64_t rows, double* out) {
  std::fill(out, out + rows, model.intercept);
  for (size_t j = 0; j < columns.size() && j < model.coef.size(); ++j) kernels::Axpy(model.coef[j], columns[j], out, rows);
}

void PredictLogistic(const LinearModel& model, const std::vector<const double*>& columns, int64_t rows, double* out) {
  PredictLinear(model, columns, rows, out);
  kernels::Sigmoid(out, out, rows);
}

}  // namespace pipeline::ml
