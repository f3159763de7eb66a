#include "cdi/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cradle::cdi {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 64;
constexpr int64_t kMaxNodes = 1000000;

std::string At(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return "";
  return absl::StrCat("line ", mark.line + 1, ": ");
}

// An integer as YAML 1.1 writes one, or nothing.
std::optional<int64_t> Integer(const std::string& text) {
  absl::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty()) return std::nullopt;
  int base = 10;
  if (absl::StartsWithIgnoreCase(digits, "0x")) {
    base = 16;
    digits.remove_prefix(2);
  } else if (absl::StartsWith(digits, "0o")) {
    base = 8;
    digits.remove_prefix(2);
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
    digits.remove_prefix(1);
  }
  if (digits.empty()) return std::nullopt;
  for (char c : digits) {
    bool ok = base == 16  ? absl::ascii_isxdigit(c)
              : base == 8 ? (c >= '0' && c <= '7')
                          : absl::ascii_isdigit(c);
    if (!ok) return std::nullopt;
  }
  std::string s(digits);
  errno = 0;
  char* end = nullptr;
  unsigned long long value = std::strtoull(s.c_str(), &end, base);
  if (errno != 0 || end != s.c_str() + s.size()) return std::nullopt;
  if (value > static_cast<unsigned long long>(INT64_MAX)) return std::nullopt;
  int64_t v = static_cast<int64_t>(value);
  return negative ? -v : v;
}

json PlainScalar(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" ||
      text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (std::optional<int64_t> n = Integer(text)) return *n;
  return text;
}

class Converter {
 public:
  absl::StatusOr<json> Convert(const YAML::Node& node, int depth) {
    if (depth > kMaxDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat(At(node), "nested deeper than ", kMaxDepth));
    }
    if (++nodes_ > kMaxNodes) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", kMaxNodes, " nodes (aliases expanding?)"));
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json(nullptr);
      case YAML::NodeType::Scalar: {
        const std::string& tag = node.Tag();
        // "?" is an untagged plain scalar; "!" a quoted one.
        if (tag == "?") return PlainScalar(node.Scalar());
        return json(node.Scalar());
      }
      case YAML::NodeType::Sequence: {
        json array = json::array();
        for (const YAML::Node& item : node) {
          absl::StatusOr<json> v = Convert(item, depth + 1);
          if (!v.ok()) return v.status();
          array.push_back(*std::move(v));
        }
        return array;
      }
      case YAML::NodeType::Map: {
        json object = json::object();
        for (const auto& entry : node) {
          if (!entry.first.IsScalar()) {
            return absl::InvalidArgumentError(
                absl::StrCat(At(entry.first), "a mapping key is not a scalar"));
          }
          const std::string& key = entry.first.Scalar();
          if (object.contains(key)) {
            return absl::InvalidArgumentError(
                absl::StrCat(At(entry.first), "duplicate key \"", key, "\""));
          }
          absl::StatusOr<json> v = Convert(entry.second, depth + 1);
          if (!v.ok()) return v.status();
          object[key] = *std::move(v);
        }
        return object;
      }
    }
    return json(nullptr);
  }

 private:
  int64_t nodes_ = 0;
};

}  // namespace

absl::StatusOr<json> YamlToJson(absl::string_view text) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return Converter().Convert(root, 0);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return absl::InvalidArgumentError(e.msg);
    return absl::InvalidArgumentError(
        absl::StrCat("line ", e.mark.line + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("YAML: ", e.what()));
  } catch (...) {
    return absl::InvalidArgumentError("YAML: unreadable");
  }
}

}  // namespace cradle::cdi
