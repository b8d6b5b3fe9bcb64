// The deployment files under docker/: the compose file's scheduler pair and
// workers, and the Kubernetes manifests in docker/k8s. Without an API server
// `kubectl create --dry-run=client` cannot map kinds, so their structure is
// checked here: every object named, selectors matching their pods, every
// volume, config map and secret a pod uses either defined here or one the
// README tells the user to create, and the settings the scale-out relies on.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
const fs::path kDocker = fs::path(PIPE_SOURCE_DIR) / "docker";

struct Object {
  std::string file;
  YAML::Node node;
  std::string kind() const { return node["kind"].as<std::string>(); }
  std::string name() const { return node["metadata"]["name"].as<std::string>(); }
};

std::vector<Object> LoadManifests() {
  std::vector<Object> out;
  for (const auto& entry : fs::directory_iterator(kDocker / "k8s")) {
    if (entry.path().extension() != ".yaml") continue;
    for (const YAML::Node& doc : YAML::LoadAllFromFile(entry.path().string())) {
      if (doc.IsNull()) continue;
      out.push_back({entry.path().filename().string(), doc});
    }
  }
  return out;
}

std::string Where(const Object& o) { return o.file + ": " + o.kind() + " " + o.name(); }

std::vector<std::string> Args(const YAML::Node& container) {
  std::vector<std::string> out;
  for (const auto& a : container["args"]) out.push_back(a.as<std::string>());
  return out;
}

TEST(DeploymentFilesTest, KubernetesManifestsAreConsistent) {
  std::vector<Object> objects = LoadManifests();
  ASSERT_GE(objects.size(), 5u);
  std::set<std::string> config_maps, claims;
  for (const Object& o : objects) {
    ASSERT_TRUE(o.node["apiVersion"] && o.node["kind"] && o.node["metadata"]["name"]) << o.file;
    if (o.kind() == "ConfigMap") config_maps.insert(o.name());
    if (o.kind() == "PersistentVolumeClaim") {
      claims.insert(o.name());
      std::vector<std::string> modes = o.node["spec"]["accessModes"].as<std::vector<std::string>>();
      EXPECT_EQ(modes, std::vector<std::string>{"ReadWriteMany"}) << Where(o) << ": every machine shares it";
    }
  }
  const std::set<std::string> user_secrets = {"pipe-db", "pipe-tokens", "pipe-secrets"};  // docker/k8s/README.md
  std::map<std::string, const Object*> deployments;
  for (const Object& o : objects) {
    if (o.kind() == "Service") {
      bool selects = false;
      for (const Object& d : objects) {
        if (d.kind() != "Deployment") continue;
        bool all = true;
        for (const auto& kv : o.node["spec"]["selector"]) {
          YAML::Node label = d.node["spec"]["template"]["metadata"]["labels"][kv.first.as<std::string>()];
          all = all && label && label.as<std::string>() == kv.second.as<std::string>();
        }
        selects = selects || all;
      }
      EXPECT_TRUE(selects) << Where(o) << " selects no pods";
    }
    if (o.kind() != "Deployment") continue;
    deployments[o.name()] = &o;
    const YAML::Node spec = o.node["spec"];
    for (const auto& kv : spec["selector"]["matchLabels"]) {
      YAML::Node label = spec["template"]["metadata"]["labels"][kv.first.as<std::string>()];
      ASSERT_TRUE(label) << Where(o) << ": the selector's " << kv.first << " is not on the pod";
      EXPECT_EQ(label.as<std::string>(), kv.second.as<std::string>()) << Where(o);
    }
    const YAML::Node pod = spec["template"]["spec"];
    std::set<std::string> volumes;
    for (const auto& v : pod["volumes"]) {
      volumes.insert(v["name"].as<std::string>());
      if (v["configMap"]) {
        EXPECT_TRUE(config_maps.count(v["configMap"]["name"].as<std::string>())) << Where(o);
      }
      if (v["persistentVolumeClaim"]) {
        EXPECT_TRUE(claims.count(v["persistentVolumeClaim"]["claimName"].as<std::string>())) << Where(o);
      }
      if (v["secret"]) {
        EXPECT_TRUE(user_secrets.count(v["secret"]["secretName"].as<std::string>())) << Where(o);
      }
    }
    ASSERT_TRUE(pod["containers"].IsSequence()) << Where(o);
    EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>(false)) << Where(o);
    EXPECT_EQ(pod["securityContext"]["runAsUser"].as<int>(0), 10001) << Where(o) << ": the image's user";
    EXPECT_GE(pod["terminationGracePeriodSeconds"].as<int>(0), 45) << Where(o) << ": grace (30s) + 10s + a heartbeat";
    for (const auto& c : pod["containers"]) {
      EXPECT_TRUE(c["image"]) << Where(o);
      std::set<std::string> env;
      for (const auto& e : c["env"]) {
        env.insert(e["name"].as<std::string>());
        if (e["valueFrom"] && e["valueFrom"]["secretKeyRef"]) {
          EXPECT_TRUE(user_secrets.count(e["valueFrom"]["secretKeyRef"]["name"].as<std::string>())) << Where(o);
        }
      }
      EXPECT_TRUE(env.count("PIPE_DB")) << Where(o) << ": the database URL comes from the pipe-db secret";
      bool home = false;
      for (const auto& m : c["volumeMounts"]) {
        EXPECT_TRUE(volumes.count(m["name"].as<std::string>())) << Where(o) << ": mounts an undefined volume";
        home = home || m["mountPath"].as<std::string>() == "/var/lib/pipe";
      }
      EXPECT_TRUE(home) << Where(o) << ": PIPE_HOME (/var/lib/pipe) must be the shared volume";
      // Tasks run in their DAG's folder on whichever pod runs them.
      bool dags = false;
      for (const auto& m : c["volumeMounts"]) {
        dags = dags || (m["mountPath"].as<std::string>() == "/opt/pipe/dags" && m["name"].as<std::string>() == "home");
      }
      EXPECT_TRUE(dags) << Where(o) << ": the DAG folder must be on the shared volume";
      // A database outage is no reason to restart a pod.
      if (c["livenessProbe"]) {
        EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/v2/health/live") << Where(o);
      }
      EXPECT_TRUE(c["resources"]["limits"]["memory"]) << Where(o);
      // $(VAR) in args is expanded by Kubernetes from the container's env only.
      for (const std::string& a : Args(c)) {
        if (a.starts_with("$(")) {
          EXPECT_TRUE(env.count(a.substr(2, a.size() - 3))) << Where(o) << ": " << a;
        }
      }
    }
  }
  ASSERT_TRUE(deployments.count("pipe-scheduler"));
  ASSERT_TRUE(deployments.count("pipe-worker"));
  const YAML::Node sched = deployments["pipe-scheduler"]->node["spec"];
  EXPECT_EQ(sched["replicas"].as<int>(), 2);
  std::vector<std::string> sched_args = Args(sched["template"]["spec"]["containers"][0]);
  EXPECT_NE(std::find(sched_args.begin(), sched_args.end(), "--name"), sched_args.end());
  EXPECT_NE(std::find(sched_args.begin(), sched_args.end(), "--local-queues"), sched_args.end());
  std::vector<std::string> worker_args = Args(deployments["pipe-worker"]->node["spec"]["template"]["spec"]["containers"][0]);
  ASSERT_FALSE(worker_args.empty());
  EXPECT_EQ(worker_args[0], "worker");
}

TEST(DeploymentFilesTest, ComposeRunsTwoSchedulersAndWorkersOnOneHome) {
  YAML::Node compose = YAML::LoadFile((kDocker / "docker-compose.yml").string());
  const YAML::Node services = compose["services"];
  std::set<std::string> names;
  for (const char* s : {"piped-a", "piped-b"}) {
    ASSERT_TRUE(services[s]) << s;
    std::vector<std::string> cmd = services[s]["command"].as<std::vector<std::string>>();
    auto name = std::find(cmd.begin(), cmd.end(), "--name");
    ASSERT_NE(name, cmd.end()) << s;
    ASSERT_NE(name + 1, cmd.end()) << s;
    EXPECT_TRUE(names.insert(*(name + 1)).second) << s << ": scheduler names must differ";
  }
  ASSERT_TRUE(services["worker"]);
  EXPECT_EQ(services["worker"]["command"][0].as<std::string>(), "worker");
  for (const char* s : {"piped-a", "piped-b", "worker"}) {
    bool home = false, dags = false;
    for (const auto& v : services[s]["volumes"]) {
      home = home || v.as<std::string>() == "piped-home:/var/lib/pipe";
      dags = dags || v.as<std::string>() == "pipe-dags:/opt/pipe/dags";
    }
    EXPECT_TRUE(home) << s << ": logs and artifacts must be on the shared volume";
    EXPECT_TRUE(dags) << s << ": tasks run in their DAG's folder, which every service must share";
  }
  EXPECT_TRUE(compose["volumes"]["piped-home"]) << "the shared volume is declared";
  EXPECT_TRUE(compose["volumes"]["pipe-dags"]) << "the DAG volume is declared";
}

}  // namespace
