// annals -- event-sourced aggregates on the C++ Actor Framework.
#include "annals/render.hpp"

#include "annals/errc.hpp"
#include "annals/persistence/errc.hpp"

#include <caf/message.hpp>

#include <map>
#include <mutex>

namespace annals {

namespace {

std::mutex categories_mtx;
std::map<caf::atom_value, std::string (*)(uint8_t)> categories;

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
  std::string (*name)(uint8_t) = nullptr;
  {
    std::lock_guard guard{categories_mtx};
    if (auto it = categories.find(err.category()); it != categories.end())
      name = it->second;
  }
  if (name != nullptr) {
    auto out = caf::to_string(err.category()) + "." + name(err.code());
    if (auto ctx = context_text(err.context()); !ctx.empty())
      out += ": " + ctx;
    return out;
  }
  return caf::to_string(err);
}

void register_error_category(caf::atom_value category,
                             std::string (*code_name)(uint8_t)) {
  std::lock_guard guard{categories_mtx};
  categories[category] = code_name;
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
