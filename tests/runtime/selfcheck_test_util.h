// tests/runtime/selfcheck_test_util.h: reading `rwkv-run selfcheck`'s table
// (tools/rwkv-run/cmd_selfcheck.cpp) back, for tests/runtime/test_selfcheck_cli.cpp
// and tests/kernels/test_selfcheck_cuda.cpp.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace selfcheck_test {

// One row of the table: "v7  1.7e-06 ok  9.5e-07 ok  0.01 ok".
struct Row {
  std::string version;
  std::vector<double> diffs;         // one per column, in order
  std::vector<std::string> verdicts; // "ok" or "FAIL", one per column
};

// The rows of versions 4, 5.2, 6 and 7 found in `out`, in output order.
inline std::vector<Row> rows(const std::string& out) {
  std::vector<Row> r;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    Row row;
    f >> row.version;
    if (row.version != "v4" && row.version != "v5.2" && row.version != "v6" && row.version != "v7") continue;
    double d;
    std::string verdict;
    while (f >> d >> verdict) {
      row.diffs.push_back(d);
      row.verdicts.push_back(verdict);
    }
    r.push_back(row);
  }
  return r;
}

}  // namespace selfcheck_test
