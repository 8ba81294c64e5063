// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#ifndef LIVECHAT_TESTS_POSTGRES_FIXTURE_HPP
#define LIVECHAT_TESTS_POSTGRES_FIXTURE_HPP

// A throwaway PostgreSQL server for the tests: `initdb` into a new temp
// dir, `pg_ctl start` on a free loopback port (its socket in that dir, no
// fsync: nothing here needs to survive a power loss; but synchronous
// commits, so a commit survives the server's SIGQUIT in the outage tests),
// stopped and removed when the test process exits. One server per test process, started on
// first use; each test gets a schema of its own (`fresh_schema`), which is
// far cheaper than a database per test.
//
// initdb refuses to run as root, and CI runs as root: then every server
// command runs as the `postgres` user (`runuser -u postgres --`; the
// `postgresql` package creates that user) in a dir it owns.
//
// The binaries come from `pg_config --bindir`, or the newest
// /usr/lib/postgresql/<version>/bin (Debian keeps them off the PATH).

#include <libpq-fe.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>

namespace livechat_test {

class postgres_server {
 public:
  /// The server of this process, started on first use; nullptr when it
  /// could not start (`start_error()` says why).
  static postgres_server* shared() {
    static std::unique_ptr<postgres_server> server = [] {
      std::unique_ptr<postgres_server> s(new postgres_server());
      if (!s->setup()) {
        error() = s->why_;
        s.reset();
      }
      return s;
    }();
    return server.get();
  }
  static const std::string& start_error() { return error(); }

  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  /// Stops the server and removes its dir, in the process that started it
  /// only (a forked test child leaves with _exit and never gets here).
  ~postgres_server() {
    if (getpid() != owner_ || dir_.empty()) return;
    if (running_) run_as_server(bin("pg_ctl") + " -D " + data() + " -m fast -w -t 30 stop");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const noexcept { return port_; }

  /// A libpq key=value conninfo for the superuser; with `schema`, tables
  /// are created in and read from that schema.
  std::string conninfo(const std::string& schema = {}) const {
    std::string c = "host=127.0.0.1 port=" + std::to_string(port_) +
                    " user=postgres dbname=postgres sslmode=disable gssencmode=disable "
                    "connect_timeout=5";
    if (!schema.empty()) c += " options='-csearch_path=" + schema + "'";
    return c;
  }

  /// The same as a libpq URI (what `livechat-server --store` takes).
  std::string uri(const std::string& schema) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) +
           "/postgres?sslmode=disable&gssencmode=disable&options=-csearch_path%3D" + schema;
  }

  /// Creates a new, empty schema and returns its name; empty (and
  /// `last_error()`) on failure.
  std::string create_schema() {
    const std::string name = "t" + std::to_string(getpid()) + "_" + std::to_string(++schemas_);
    if (!exec("CREATE SCHEMA " + name).empty()) return {};
    return name;
  }

  /// A new, empty schema: the conninfo that uses it (empty on failure).
  std::string fresh_schema() {
    const std::string name = create_schema();
    return name.empty() ? std::string() : conninfo(name);
  }

  /// Runs `sql` on a new superuser connection: empty on success, else the
  /// error.
  std::string exec(const std::string& sql) {
    PGconn* c = PQconnectdb(conninfo().c_str());
    std::string err;
    if (PQstatus(c) != CONNECTION_OK) {
      err = std::string("connect: ") + PQerrorMessage(c);
    } else {
      PGresult* r = PQexec(c, sql.c_str());
      const ExecStatusType st = PQresultStatus(r);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) err = PQresultErrorMessage(r);
      PQclear(r);
    }
    PQfinish(c);
    last_error_ = err;
    return err;
  }

  /// Runs `sql` and returns the first column of its first row ("" if none).
  std::string query_value(const std::string& sql) {
    PGconn* c = PQconnectdb(conninfo().c_str());
    std::string out;
    if (PQstatus(c) == CONNECTION_OK) {
      PGresult* r = PQexec(c, sql.c_str());
      if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
      PQclear(r);
    }
    PQfinish(c);
    return out;
  }

  const std::string& last_error() const noexcept { return last_error_; }

  /// Kills the server the way a crash would (`pg_ctl stop -m immediate`).
  bool stop_immediate() {
    if (!run_as_server(bin("pg_ctl") + " -D " + data() + " -m immediate -w -t 30 stop"))
      return false;
    running_ = false;
    return true;
  }

  /// Starts it again on the same port.
  bool start() {
    running_ = run_as_server(bin("pg_ctl") + " -D " + data() + " -l " + dir_ +
                             "/server.log -w -t 60 -o '-p " + std::to_string(port_) +
                             " -c listen_addresses=127.0.0.1 -k " + dir_ +
                             " -c fsync=off -c full_page_writes=off"
                             " -c max_connections=40' start");
    return running_;
  }

  bool running() const noexcept { return running_; }

 private:
  postgres_server() : owner_(getpid()) {}

  static std::string& error() {
    static std::string e;
    return e;
  }

  std::string data() const { return dir_ + "/data"; }
  std::string bin(const char* name) const { return bindir_ + "/" + name; }

  /// `cmd` as the server's user, from its dir, output to its log; true
  /// when it exits 0.
  bool run_as_server(const std::string& cmd) const {
    const std::string full = "cd " + dir_ + " && " + as_user_ + cmd + " >>" + dir_ +
                             "/commands.log 2>&1";
    const int status = std::system(full.c_str());
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  static std::string find_bindir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (FILE* p = popen("pg_config --bindir 2>/dev/null", "r")) {
      char line[4096] = {};
      const bool got = std::fgets(line, sizeof line, p) != nullptr;
      pclose(p);
      std::string dir = got ? line : "";
      while (!dir.empty() && (dir.back() == '\n' || dir.back() == ' ')) dir.pop_back();
      if (!dir.empty() && fs::exists(dir + "/initdb", ec) && fs::exists(dir + "/pg_ctl", ec))
        return dir;
    }
    std::string best;
    long best_version = -1;
    for (fs::directory_iterator it("/usr/lib/postgresql", ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string v = it->path().filename().string();
      const long n = std::strtol(v.c_str(), nullptr, 10);
      const std::string dir = it->path().string() + "/bin";
      if (n > best_version && fs::exists(dir + "/initdb", ec) && fs::exists(dir + "/pg_ctl", ec)) {
        best = dir;
        best_version = n;
      }
    }
    return best;
  }

  /// The end of a log, for the reason of a failure (the dir is removed).
  static std::string tail(const std::string& path) {
    std::ifstream in(path);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return all.size() > 600 ? all.substr(all.size() - 600) : all;
  }

  static int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    return port;
  }

  bool setup() {
    bindir_ = find_bindir();
    if (bindir_.empty()) {
      why_ = "initdb and pg_ctl not found (pg_config --bindir, /usr/lib/postgresql/*/bin): "
             "apt-get install postgresql";
      return false;
    }
    char tmpl[] = "/tmp/livechat-pg-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      why_ = "mkdtemp failed";
      return false;
    }
    dir_ = tmpl;
    if (geteuid() == 0) {
      const passwd* pw = getpwnam("postgres");
      if (pw == nullptr) {
        why_ = "running as root, and there is no postgres user to run the server as";
        return false;
      }
      if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        why_ = "chown of " + dir_ + " failed";
        return false;
      }
      as_user_ = "runuser -u postgres -- ";
    }
    if (!run_as_server(bin("initdb") + " -D " + data() +
                       " -U postgres -A trust -E UTF8 --locale=C --no-sync")) {
      why_ = "initdb failed: " + tail(dir_ + "/commands.log");
      return false;
    }
    // A port found free may be taken before the server binds it: try a few.
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = free_port();
      if (port_ != 0 && start()) return true;
    }
    why_ = "pg_ctl start failed: " + tail(dir_ + "/commands.log") + " / " +
           tail(dir_ + "/server.log");
    return false;
  }

  pid_t owner_;
  std::string bindir_;
  std::string dir_;
  std::string as_user_;
  std::string why_;
  std::string last_error_;
  int port_ = 0;
  bool running_ = false;
  unsigned schemas_ = 0;
};

}  // namespace livechat_test

#endif
