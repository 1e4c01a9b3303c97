// annals -- libFuzzer target: the bank's HTTP API mapping (`bank::route`)
// against the in-memory backend. Input: "METHOD TARGET\nKEY\nBODY", where an
// empty KEY line means no Idempotency-Key header and a KEY line starting
// with '@' marks an operator (the rest is the key), so the operator routes
// are reached too. Every request must be answered exactly once with a
// status in 200..599.
#include "bank/http_routes.hpp"
#include "fake_bank_api.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

// Splits off the text up to the next '\n' (or the end).
std::string_view next_line(std::string_view& in) {
  auto eol = in.find('\n');
  auto line = in.substr(0, eol);
  in = eol == std::string_view::npos ? std::string_view{} : in.substr(eol + 1);
  return line;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  bank::http_request req;
  auto first = next_line(in);
  auto sp = first.find(' ');
  req.method = std::string{first.substr(0, sp)};
  if (sp != std::string_view::npos)
    req.target = std::string{first.substr(sp + 1)};
  auto key = next_line(in);
  if (!key.empty() && key.front() == '@') {
    req.credential = bank::operator_credential::valid;
    key.remove_prefix(1);
  }
  if (!key.empty())
    req.idempotency_key = std::string{key};
  req.body = std::string{in};
  std::atomic<int> answers = 0;
  std::atomic<bool> bad_status = false;
  {
    bank::testing::fake_bank_api backend;
    bank::route(backend, req, [&](bank::http_response res) {
      if (res.status < 200 || res.status > 599)
        bad_status = true;
      ++answers;
    });
  } // the backend's destructor waits for late answers
  if (answers != 1 || bad_status)
    std::abort();
  return 0;
}
