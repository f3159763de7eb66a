#include "containerd_api/api_context.h"

#include <re2/re2.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cradle::containerd_api {
namespace {

std::string Header(const grpc::ServerContext* ctx, absl::string_view key) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// Splits `s` at `sep` outside double quotes.
std::vector<std::string> SplitUnquoted(absl::string_view s, char sep) {
  std::vector<std::string> parts(1);
  bool quoted = false;
  for (char c : s) {
    if (c == '"') quoted = !quoted;
    if (c == sep && !quoted) {
      parts.emplace_back();
      continue;
    }
    parts.back() += c;
  }
  return parts;
}

std::string Unquote(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
    s = s.substr(1, s.size() - 2);
  }
  return std::string(s);
}

}  // namespace

absl::Status CheckLabel(absl::string_view what, absl::string_view key,
                        absl::string_view value) {
  if (key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " label keys must not be empty"));
  }
  if (key.size() + value.size() > kMaxLabelBytes) {
    // The key itself may be the oversized part: name only its start.
    constexpr size_t kShown = 64;
    std::string shown = key.size() > kShown
                            ? absl::StrCat(key.substr(0, kShown), "...")
                            : std::string(key);
    return absl::InvalidArgumentError(
        absl::StrCat(what, " label \"", shown, "\": key and value are ",
                     key.size() + value.size(),
                     " bytes, more than the limit of ", kMaxLabelBytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateNamespace(absl::string_view ns) {
  static const re2::RE2* const kName =
      new re2::RE2("[A-Za-z0-9]+([._-][A-Za-z0-9]+)*");
  if (ns.size() > 76 ||
      !re2::RE2::FullMatch(re2::StringPiece(ns.data(), ns.size()), *kName)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "namespace \"", ns,
        "\" is not valid: letters and digits, joined by single '.', '_' or "
        "'-', at most 76 bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RequestNamespace(const grpc::ServerContext* ctx) {
  std::string ns = Header(ctx, kNamespaceHeader);
  if (ns.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("namespace is required: send the ", kNamespaceHeader,
                     " header (ctr -n NAME)"));
  }
  if (absl::Status s = ValidateNamespace(ns); !s.ok()) return s;
  return ns;
}

std::string RequestLease(const grpc::ServerContext* ctx) {
  return Header(ctx, kLeaseHeader);
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp out;
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return out;
  timespec ts = absl::ToTimespec(t);
  out.set_seconds(ts.tv_sec);
  out.set_nanos(static_cast<int32_t>(ts.tv_nsec));
  return out;
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::StatusOr<Filter> Filter::Parse(const std::vector<std::string>& filters) {
  Filter out;
  for (const std::string& filter : filters) {
    std::vector<Term> all_of;
    for (const std::string& raw : SplitUnquoted(filter, ',')) {
      absl::string_view text = absl::StripAsciiWhitespace(raw);
      if (text.empty()) continue;
      Term term;
      term.op = Term::Op::kPresent;
      std::string field(text);
      for (auto [op, kind] : {std::pair{"==", Term::Op::kEqual},
                              std::pair{"!=", Term::Op::kNotEqual},
                              std::pair{"~=", Term::Op::kMatches}}) {
        size_t at = text.find(op);
        if (at == absl::string_view::npos) continue;
        field = std::string(text.substr(0, at));
        term.value = Unquote(text.substr(at + 2));
        term.op = kind;
        break;
      }
      for (const std::string& part : SplitUnquoted(field, '.')) {
        std::string component = Unquote(part);
        if (component.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "filter \"", filter, "\": empty field name in \"", field, "\""));
        }
        term.path.push_back(component);
      }
      if (term.op == Term::Op::kMatches) {
        re2::RE2::Options options;
        options.set_log_errors(false);
        auto pattern = std::make_shared<re2::RE2>(term.value, options);
        if (!pattern->ok()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "filter \"", filter, "\": \"", term.value,
              "\" is not a regular expression: ", pattern->error()));
        }
        term.pattern = std::move(pattern);
      }
      all_of.push_back(std::move(term));
    }
    if (!all_of.empty()) out.any_of_.push_back(std::move(all_of));
  }
  return out;
}

bool Filter::Matches(const Lookup& lookup) const {
  if (any_of_.empty()) return true;
  for (const std::vector<Term>& all_of : any_of_) {
    bool ok = true;
    for (const Term& term : all_of) {
      std::string value;
      bool present = lookup(term.path, &value);
      switch (term.op) {
        case Term::Op::kPresent:
          ok = present;
          break;
        case Term::Op::kEqual:
          ok = present && value == term.value;
          break;
        case Term::Op::kNotEqual:
          ok = !present || value != term.value;
          break;
        case Term::Op::kMatches:
          ok = present && re2::RE2::PartialMatch(value, *term.pattern);
          break;
      }
      if (!ok) break;
    }
    if (ok) return true;
  }
  return false;
}

Filter::Lookup FieldsAndLabels(
    const std::map<std::string, std::string>& fields,
    const std::map<std::string, std::string>& labels) {
  return [fields, labels](const std::vector<std::string>& path,
                          std::string* value) {
    if (path.size() == 1) {
      auto it = fields.find(path[0]);
      if (it == fields.end()) return false;
      *value = it->second;
      return true;
    }
    if (path.size() >= 2 && path[0] == "labels") {
      // An unquoted label key with dots arrives split; join it back.
      std::string key = path[1];
      for (size_t i = 2; i < path.size(); ++i) key += "." + path[i];
      auto it = labels.find(key);
      if (it == labels.end()) return false;
      *value = it->second;
      return true;
    }
    return false;
  };
}

}  // namespace cradle::containerd_api
