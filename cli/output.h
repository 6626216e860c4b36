// How wardenctl answers: with --json, one JSON document on one line of stdout per command;
// otherwise lines for a person. Tests and scripts read both, so their bytes are an interface.
#pragma once

#include <cstdint>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

namespace warden::cli {

class Output {
 public:
  explicit Output(bool json) : json_(json) {}

  // True under --json: the command calls Json() and writes no text to stdout.
  bool json() const { return json_; }

  // Writes `j` compactly, followed by a newline.
  void Json(const nlohmann::json& j) const { std::cout << j.dump() << "\n"; }

  // The answer, for a person.
  std::ostream& text() const { return std::cout; }

  // Remarks around the answer (hints, warnings, what to do next), kept off stdout so that a
  // pipe gets only the answer.
  std::ostream& note() const { return std::cerr; }

 private:
  bool json_;
};

// A Unix time as "2024-01-02 03:04:05Z", "-" for 0.
std::string When(int64_t t);

// A duration in the largest sensible unit: "now", "90s", "45m", "2h5m".
std::string In(int64_t seconds);

}  // namespace warden::cli
