// SQL shared by the backends: the WHERE clause of a RunFilter.
#pragma once

#include <string>

#include "store/state_store.h"

namespace pipeline {

// "WHERE (p1 IS NULL OR dag_id = p1) AND (p2 IS NULL OR trigger = p2) [AND state IN (...)]"
// with parameters written `mark`1 and `mark`2 ('?' for SQLite, '$' for
// PostgreSQL; bind dag_id then trigger, as text or null). States are enum
// names, inlined.
inline std::string RunFilterWhere(const RunFilter& filter, char mark) {
  std::string p1 = std::string(1, mark) + "1", p2 = std::string(1, mark) + "2";
  std::string cast = mark == '$' ? "::text" : "";
  std::string sql = " WHERE (" + p1 + cast + " IS NULL OR dag_id = " + p1 + ") AND (" + p2 + cast +
                    " IS NULL OR trigger = " + p2 + ")";
  if (!filter.states.empty()) {
    std::string list;
    for (RunState s : filter.states) list += (list.empty() ? "'" : ",'") + std::string(ToString(s)) + "'";
    sql += " AND state IN (" + list + ")";
  }
  return sql;
}

}  // namespace pipeline
