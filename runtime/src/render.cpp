// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/render.hpp"

#include "annals/errc.hpp"
#include "annals/persistence/errc.hpp"

#include <caf/message.hpp>

namespace annals {

namespace {

std::string context_text(const caf::message& ctx) {
  if (!ctx.empty() && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return ctx.empty() ? std::string{} : caf::to_string(ctx);
}

} // namespace

std::string render(const caf::error& err) {
  if (!err)
    return "ok";
  if (err.category() == errc_category) {
    std::string out = "annals.";
    out += to_string(static_cast<errc>(err.code()));
    if (auto ctx = context_text(err.context()); !ctx.empty())
      out += ": " + ctx;
    return out;
  }
  if (err.category() == journal_category)
    return describe(err);
  return caf::to_string(err);
}

void register_error_renderers(caf::actor_system_config& cfg) {
  cfg.add_error_category(
    errc_category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      return render(caf::error{code, errc_category, ctx});
    });
  cfg.add_error_category(journal_category, [](uint8_t code, caf::atom_value,
                                              const caf::message& ctx) {
    return render(caf::error{code, journal_category, ctx});
  });
}

} // namespace annals
