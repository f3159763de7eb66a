#include "cri/runtime/runtime_service.h"

namespace cradle {

RuntimeService::RuntimeService(RuntimeServiceOptions options)
    : options_(std::move(options)) {}

}  // namespace cradle
