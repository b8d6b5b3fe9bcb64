#include "pg_cluster.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <pqxx/pqxx>
#include <stdexcept>

namespace pipeline::testing_util {

namespace fs = std::filesystem;

namespace {

// The newest installed server's bin folder, e.g. /usr/lib/postgresql/15/bin.
std::string FindBin() {
  std::string best;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(e.path() / "bin" / "initdb") && e.path().string() > best) best = e.path().string();
  }
  if (best.empty()) throw std::runtime_error("PostgreSQL server not installed (no /usr/lib/postgresql/*/bin/initdb)");
  return best + "/bin";
}

}  // namespace

std::string TempPgCluster::Run(const std::string& command) const {
  std::string full = (geteuid() == 0 ? "runuser -u postgres -- " : "") + command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run: " + full);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  int rc = pclose(pipe);
  if (rc != 0) throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + full + "\n" + out);
  return out;
}

void TempPgCluster::Start() {
  bin_ = FindBin();
  char templ[] = "/tmp/pgXXXXXX";
  if (!mkdtemp(templ)) throw std::runtime_error("mkdtemp failed");
  root_ = templ;
  if (geteuid() == 0) {
    std::string chown = "chown postgres:postgres " + root_;
    if (std::system(chown.c_str()) != 0) throw std::runtime_error("cannot chown " + root_);
  }
  port_ = 20000 + getpid() % 20000;
  Run(bin_ + "/initdb -D " + root_ + "/data -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync");
  StartAgain();
}

void TempPgCluster::StartAgain() {
  Run(bin_ + "/pg_ctl -D " + root_ + "/data -l " + root_ + "/log -w -o \"-p " + std::to_string(port_) +
      " -k " + root_ + " -c listen_addresses='' -c fsync=off\" start");
  running_ = true;
}

void TempPgCluster::Pause() {
  if (!running_) return;
  Run(bin_ + "/pg_ctl -D " + root_ + "/data -m fast -w stop");
  running_ = false;
}

void TempPgCluster::Stop() {
  if (root_.empty()) return;
  try {
    Pause();
  } catch (const std::exception&) {
    // Removing the folder below is all that is left to do.
  }
  std::error_code ec;
  fs::remove_all(root_, ec);
  root_.clear();
}

std::string TempPgCluster::Url(const std::string& db) const {
  return "postgresql://postgres@/" + db + "?host=" + root_ + "&port=" + std::to_string(port_);
}

void TempPgCluster::CreatePasswordRole(const std::string& role, const std::string& password) {
  {
    pqxx::connection admin(Url("postgres"));
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE ROLE " + role + " LOGIN PASSWORD " + tx.quote(password));
  }
  const std::string hba = root_ + "/data/pg_hba.conf";
  std::string rest;
  {
    std::ifstream in(hba);
    std::ostringstream all;
    all << in.rdbuf();
    rest = all.str();
  }
  std::ofstream(hba) << "local all " << role << " scram-sha-256\n" << rest;  // the first match wins
  Run(bin_ + "/pg_ctl -D " + root_ + "/data reload");
}

std::string TempPgCluster::CreateDatabase(const std::string& db) {
  pqxx::connection admin(Url("postgres"));
  pqxx::nontransaction tx(admin);
  tx.exec("CREATE DATABASE " + db);
  return Url(db);
}

namespace {

class StopSharedCluster : public testing::Environment {
 public:
  void TearDown() override { SharedCluster().Stop(); }
};

}  // namespace

TempPgCluster& SharedCluster() {
  static TempPgCluster* cluster = [] {
    auto* c = new TempPgCluster;
    testing::AddGlobalTestEnvironment(new StopSharedCluster);
    c->Start();
    return c;
  }();
  return *cluster;
}

}  // namespace pipeline::testing_util
