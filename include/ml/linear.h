// Linear models on column-major data: least squares (ridge) and binary
// logistic regression. Knows nothing of DAGs or tables: a Design is the
// feature columns and the target as plain double arrays.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pipeline::ml {

// A model cannot be fitted or used: the message says why, naming the
// feature or parameter at fault.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A row (of a request, or of a table being scored) that cannot be scored: `row` (0-based) and `column` name
// the place; the message says what is wrong.
class RowError : public ModelError {
 public:
  RowError(int64_t row, std::string column, const std::string& message)
      : ModelError(message), row_(row), column_(std::move(column)) {}
  int64_t row() const { return row_; }
  const std::string& column() const { return column_; }

 private:
  int64_t row_;
  std::string column_;
};

// A fit stopped because its caller asked (a `stop` check said so).
class Stopped : public ModelError {
 public:
  Stopped() : ModelError("stopped before the fit ended") {}
};

// Asked between steps of a long fit (Newton steps, boosting rounds): true
// stops it with Stopped. Empty: never.
using StopCheck = std::function<bool()>;

// Row i of feature j is columns[j][i]. Every value finite (callers check:
// they know the column names for the message).
struct Design {
  int64_t rows = 0;
  std::vector<const double*> columns;
  std::vector<std::string> names;  // for messages, one per column
  const double* target = nullptr;
};

// prediction = intercept + sum coef[j] * x_j (for the logistic model this is
// the margin; the probability is its sigmoid).
struct LinearModel {
  std::vector<double> coef;
  double intercept = 0;
};

struct LinearRegressionOptions {
  double l2 = 0;  // ridge penalty on the coefficients, not the intercept (scikit-learn's Ridge alpha)
  int threads = 0;  // 0: one per core
};

// Minimises sum (y - prediction)^2 + l2 |coef|^2 exactly: the Gram matrix of
// the centred features in one parallel pass over row blocks, then Cholesky.
// Throws ModelError for fewer rows than features + 1, or a singular system
// (a constant feature, or one that is a combination of others) without l2.
LinearModel FitLinearRegression(const Design& design, const LinearRegressionOptions& options);

struct LogisticRegressionOptions {
  double l2 = 1.0;       // scikit-learn's 1 / C
  int max_iter = 100;    // Newton steps
  double tol = 1e-4;     // stop when max |gradient| / sum of weights <= tol
  bool balanced = false; // weight each class by rows / (2 * its rows)
  int threads = 0;
  StopCheck stop;        // asked before each Newton step
};

struct LogisticFit {
  LinearModel model;
  int iterations = 0;
  bool converged = false;
  double loss = 0;  // mean weighted log loss, with the penalty, at the end
};

// Minimises sum w_i logloss_i + l2 / 2 |coef|^2 (scikit-learn's objective
// with C = 1 / l2) by Newton's method with a backtracking line search: the
// gradient and Hessian in one parallel pass over row blocks per step. Labels
// must be 0 or 1 with both present (ModelError otherwise).
LogisticFit FitLogisticRegression(const Design& design, const LogisticRegressionOptions& options);

// out[i] = intercept + sum coef[j] * columns[j][i].
void PredictLinear(const LinearModel& model, const std::vector<const double*>& columns, int64_t rows, double* out);
// out[i] = sigmoid(the linear prediction).
void PredictLogistic(const LinearModel& model, const std::vector<const double*>& columns, int64_t rows,
                     double* out);

// Solves A x = b in place for a symmetric positive definite A (n x n,
// row-major; only the lower triangle is read, and A is overwritten by its
// Cholesky factor). Returns -1 on success, else the index of the first
// pivot that is not positive (that variable depends on those before it).
int CholeskySolve(std::vector<double>& a, std::vector<double>& b, int n);

}  // namespace pipeline::ml
