// The zlib dictionary SPDY/3 primes header compression with (SPDY/3 draft,
// section 2.6.10.1): common header names, each behind a 32-bit length, then
// common values run together.
#include "streaming/spdy/dictionary.h"

#include <cstdint>

namespace cradle::spdy {
namespace {

constexpr const char* kWords[] = {
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
};

constexpr const char kValues[] =
    "1001012012022052063003023033043053063074024054064074084094104114124134"
    "14415416417502504505203 Non-Authoritative Information204 No Content301"
    " Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not "
    "Found500 Internal Server Error501 Not Implemented503 Service "
    "UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,imag"
    "e/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/"
    "javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset="
    "iso-8859-1,utf-,*,enq=0.";

std::string Build() {
  std::string dictionary;
  for (const char* word : kWords) {
    uint32_t n = std::char_traits<char>::length(word);
    for (int shift = 24; shift >= 0; shift -= 8) {
      dictionary.push_back(static_cast<char>((n >> shift) & 0xff));
    }
    dictionary += word;
  }
  dictionary += kValues;
  return dictionary;
}

}  // namespace

const std::string& HeaderDictionary() {
  static const std::string* const dictionary = new std::string(Build());
  return *dictionary;
}

}  // namespace cradle::spdy
