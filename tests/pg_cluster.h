// A throwaway PostgreSQL cluster for tests: initdb in a fresh temp folder,
// listening only on a Unix socket there, run as the `postgres` user when the
// tests run as root (initdb refuses root). Stopped and removed on Stop().
#pragma once

#include <string>

namespace pipeline::testing_util {

class TempPgCluster {
 public:
  TempPgCluster() = default;
  ~TempPgCluster() { Stop(); }
  TempPgCluster(const TempPgCluster&) = delete;
  TempPgCluster& operator=(const TempPgCluster&) = delete;

  // Creates and starts the cluster. Throws std::runtime_error with the
  // command's output when PostgreSQL is missing or fails to start.
  void Start();
  // Stops the server, keeping its data (StartAgain() brings it back).
  void Pause();
  void StartAgain();
  // Stops the server and removes every file.
  void Stop();

  // A postgresql:// URL of database `db` on this cluster.
  std::string Url(const std::string& db) const;
  // Creates an empty database and returns its URL.
  std::string CreateDatabase(const std::string& db);
  // Creates a login role with `password` that must give it (scram-sha-256),
  // while postgres stays trusted.
  void CreatePasswordRole(const std::string& role, const std::string& password);

 private:
  std::string Run(const std::string& command) const;  // as the cluster's owner; throws on failure

  std::string bin_;
  std::string root_;
  int port_ = 0;
  bool running_ = false;
};

// One cluster for the whole test process, started on first use and stopped
// when the tests end (a gtest Environment). Throws like Start().
TempPgCluster& SharedCluster();

}  // namespace pipeline::testing_util
