// SQL shared by the backends: the WHERE clause of a RunFilter; the rule of
// a work item's preferred worker.
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

// Whether worker `me` may claim a ready work item of table `work` now
// (`now` in microseconds): it prefers no worker, or this one, or its
// preference ran out, or the worker it prefers is not live with a free
// slot as its last heartbeat said (so a busy or dead worker holds nothing
// back). `me` and `now` are parameter marks ("?5", "$6").
inline std::string PreferenceAllows(const std::string& me, const std::string& now) {
  return "prefer = '' OR prefer = " + me + " OR prefer_until IS NULL OR prefer_until <= " + now +
         " OR NOT EXISTS (SELECT 1 FROM workers WHERE workers.name = work.prefer AND workers.live_until > " + now +
         " AND workers.running < workers.slots)";
}

}  // namespace pipeline
