#include "runc_driver/runc.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"
#include "process/process.h"

namespace cradle {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// runc says "does not exist" for containers it does not know.
bool IsNotFound(absl::string_view message) {
  return absl::StrContains(message, "does not exist") ||
         absl::StrContains(message, "container not found");
}

}  // namespace

std::string RuncErrorFromLog(absl::string_view log) {
  std::vector<std::string> errors;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    try {
      nlohmann::json entry = nlohmann::json::parse(line.begin(), line.end());
      std::string level = entry.value("level", "");
      if (level == "error" || level == "fatal")
        errors.push_back(entry.value("msg", ""));
    } catch (const nlohmann::json::exception&) {
      // A plain-text line (runc before it set up JSON logging): keep it.
      errors.emplace_back(absl::StripAsciiWhitespace(line));
    }
  }
  return absl::StrJoin(errors, "; ");
}

absl::StatusOr<std::unique_ptr<Runc>> Runc::New(RuncOptions options) {
  absl::StatusOr<std::string> binary = FindProgram(options.binary);
  if (!binary.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "runc binary \"", options.binary, "\": ", binary.status().message()));
  }
  for (const std::string& dir : {options.root, options.log_dir}) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      return absl::InternalError(
          absl::StrCat("create ", dir, ": ", ec.message()));
  }
  return std::unique_ptr<Runc>(
      new Runc(std::move(options), *std::move(binary)));
}

std::vector<std::string> Runc::GlobalArgs(const std::string& log_file) const {
  std::vector<std::string> args = {binary_, "--root", options_.root,
                                   "--log", log_file, "--log-format",
                                   "json"};
  if (options_.systemd_cgroup) args.push_back("--systemd-cgroup");
  return args;
}

absl::StatusOr<Runc::Outcome> Runc::Call(const std::vector<std::string>& args,
                                         const Stdio* stdio,
                                         absl::string_view input,
                                         std::vector<int> extra_fds) {
  std::string log_file =
      absl::StrCat(options_.log_dir, "/", args[0], "-",
                   absl::Uniform<uint64_t>(absl::BitGen()), ".json");
  SpawnOptions spawn;
  spawn.argv = GlobalArgs(log_file);
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.extra_fds = std::move(extra_fds);
  std::string what = absl::StrCat("runc ", absl::StrJoin(args, " "));
  Outcome outcome;
  std::string stderr_text;
  if (stdio != nullptr) {
    spawn.stdin_fd = stdio->in;
    spawn.stdout_fd = stdio->out;
    spawn.stderr_fd = stdio->err;
    absl::StatusOr<pid_t> pid = Spawn(spawn);
    if (!pid.ok()) return pid.status();
    absl::StatusOr<ExitStatus> exit = WaitFor(*pid);
    if (!exit.ok()) return exit.status();
    outcome.exit_code = exit->exit_code;
  } else {
    absl::StatusOr<RunResult> run =
        RunAndCapture(spawn, input, options_.timeout);
    if (!run.ok()) return run.status();
    if (run->timed_out) {
      unlink(log_file.c_str());
      return absl::DeadlineExceededError(absl::StrCat(
          what, ": no answer after ", absl::FormatDuration(options_.timeout)));
    }
    outcome.exit_code = run->status.exit_code;
    outcome.out = std::move(run->out);
    stderr_text = std::move(run->err);
  }
  std::string log = ReadAll(log_file);
  unlink(log_file.c_str());
  if (outcome.exit_code == 0) return outcome;

  std::string message = RuncErrorFromLog(log);
  if (message.empty())
    message = std::string(absl::StripAsciiWhitespace(stderr_text));
  if (message.empty()) message = absl::StrCat("exit code ", outcome.exit_code);
  std::string full = absl::StrCat(what, ": ", message);
  if (IsNotFound(message)) return absl::NotFoundError(full);
  return absl::FailedPreconditionError(full);
}

absl::StatusOr<std::string> Runc::Version() {
  absl::StatusOr<RunResult> run =
      RunAndCapture(SpawnOptions{{binary_, "--version"}});
  if (!run.ok()) return run.status();
  return std::string(
      absl::StripAsciiWhitespace(run->out.substr(0, run->out.find('\n'))));
}

absl::Status Runc::Create(absl::string_view id, const RuncCreateOptions& o) {
  std::vector<std::string> args = {"create", "--bundle", o.bundle};
  if (!o.pid_file.empty()) args.insert(args.end(), {"--pid-file", o.pid_file});
  if (!o.console_socket.empty())
    args.insert(args.end(), {"--console-socket", o.console_socket});
  if (o.no_pivot) args.push_back("--no-pivot");
  args.emplace_back(id);
  return Call(args, &o.stdio).status();
}

absl::Status Runc::Start(absl::string_view id) {
  return Call({"start", std::string(id)}, nullptr).status();
}

absl::StatusOr<int> Runc::Exec(absl::string_view id, const RuncExecOptions& o) {
  std::vector<std::string> args = {"exec", "--process", o.process_json};
  if (o.detach) args.push_back("--detach");
  if (!o.pid_file.empty()) args.insert(args.end(), {"--pid-file", o.pid_file});
  if (!o.console_socket.empty())
    args.insert(args.end(), {"--console-socket", o.console_socket});
  args.emplace_back(id);
  if (o.detach) {
    absl::StatusOr<Outcome> outcome = Call(args, &o.stdio);
    if (!outcome.ok()) return outcome.status();
    return 0;
  }
  // Attached: a non-zero exit is the process's own, not a runc failure,
  // unless runc logged an error.
  std::string log_file =
      absl::StrCat(options_.log_dir, "/exec-",
                   absl::Uniform<uint64_t>(absl::BitGen()), ".json");
  SpawnOptions spawn;
  spawn.argv = GlobalArgs(log_file);
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.stdin_fd = o.stdio.in;
  spawn.stdout_fd = o.stdio.out;
  spawn.stderr_fd = o.stdio.err;
  absl::StatusOr<pid_t> pid = Spawn(spawn);
  if (!pid.ok()) return pid.status();
  absl::StatusOr<ExitStatus> exit = WaitFor(*pid);
  std::string runc_error = RuncErrorFromLog(ReadAll(log_file));
  unlink(log_file.c_str());
  if (!exit.ok()) return exit.status();
  if (!runc_error.empty()) {
    std::string full = absl::StrCat("runc exec ", id, ": ", runc_error);
    return IsNotFound(runc_error) ? absl::NotFoundError(full)
                                  : absl::FailedPreconditionError(full);
  }
  return exit->exit_code;
}

absl::Status Runc::Kill(absl::string_view id, int signal, bool all) {
  std::vector<std::string> args = {"kill"};
  if (all) args.push_back("--all");
  args.insert(args.end(), {std::string(id), std::to_string(signal)});
  return Call(args, nullptr).status();
}

absl::Status Runc::Delete(absl::string_view id, bool force) {
  std::vector<std::string> args = {"delete"};
  if (force) args.push_back("--force");
  args.emplace_back(id);
  return Call(args, nullptr).status();
}

namespace {

RuncState StateFromJson(const nlohmann::json& j) {
  RuncState s;
  s.id = j.value("id", "");
  s.pid = j.value("pid", 0);
  s.status = j.value("status", "");
  s.bundle = j.value("bundle", "");
  s.created = j.value("created", "");
  if (j.contains("annotations") && j["annotations"].is_object()) {
    for (const auto& [k, v] : j["annotations"].items()) {
      if (v.is_string()) s.annotations[k] = v.get<std::string>();
    }
  }
  return s;
}

}  // namespace

absl::StatusOr<RuncState> Runc::State(absl::string_view id) {
  absl::StatusOr<Outcome> outcome = Call({"state", std::string(id)}, nullptr);
  if (!outcome.ok()) return outcome.status();
  try {
    return StateFromJson(nlohmann::json::parse(outcome->out));
  } catch (const nlohmann::json::exception& e) {
    return absl::InternalError(
        absl::StrCat("runc state ", id, ": unreadable JSON: ", e.what()));
  }
}

absl::StatusOr<std::vector<RuncState>> Runc::List() {
  absl::StatusOr<Outcome> outcome = Call({"list", "--format", "json"}, nullptr);
  if (!outcome.ok()) return outcome.status();
  std::vector<RuncState> states;
  try {
    nlohmann::json j = nlohmann::json::parse(outcome->out);
    if (j.is_array()) {
      for (const auto& item : j) states.push_back(StateFromJson(item));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InternalError(
        absl::StrCat("runc list: unreadable JSON: ", e.what()));
  }
  return states;
}

absl::Status Runc::Pause(absl::string_view id) {
  return Call({"pause", std::string(id)}, nullptr).status();
}

absl::Status Runc::Resume(absl::string_view id) {
  return Call({"resume", std::string(id)}, nullptr).status();
}

absl::Status Runc::Update(absl::string_view id,
                          absl::string_view resources_json) {
  return Call({"update", "--resources", "-", std::string(id)}, nullptr,
              resources_json)
      .status();
}

absl::StatusOr<std::vector<pid_t>> Runc::Ps(absl::string_view id) {
  absl::StatusOr<Outcome> outcome =
      Call({"ps", "--format", "json", std::string(id)}, nullptr);
  if (!outcome.ok()) return outcome.status();
  try {
    nlohmann::json j = nlohmann::json::parse(outcome->out);
    std::vector<pid_t> pids;
    if (j.is_array()) {
      for (const auto& p : j) pids.push_back(p.get<pid_t>());
    }
    return pids;
  } catch (const nlohmann::json::exception& e) {
    return absl::InternalError(
        absl::StrCat("runc ps ", id, ": unreadable JSON: ", e.what()));
  }
}

absl::StatusOr<std::string> Runc::Stats(absl::string_view id) {
  absl::StatusOr<Outcome> outcome =
      Call({"events", "--stats", std::string(id)}, nullptr);
  if (!outcome.ok()) return outcome.status();
  return std::string(absl::StripAsciiWhitespace(outcome->out));
}

}  // namespace cradle
