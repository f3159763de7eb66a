#ifndef CRADLE_STREAMING_SPDY_DICTIONARY_H_
#define CRADLE_STREAMING_SPDY_DICTIONARY_H_

#include <string>

namespace cradle::spdy {

// The SPDY/3 header-compression dictionary (1423 bytes).
const std::string& HeaderDictionary();

}  // namespace cradle::spdy

#endif  // CRADLE_STREAMING_SPDY_DICTIONARY_H_
