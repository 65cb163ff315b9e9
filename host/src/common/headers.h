#pragma once

#include <string>
#include <utility>
#include <vector>

namespace faust {

// Kafka message headers in order, as (key, value) pairs; keys may repeat.
using Headers = std::vector<std::pair<std::string, std::string>>;

}  // namespace faust
