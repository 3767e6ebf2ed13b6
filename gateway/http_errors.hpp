#pragma once

#include <string>

#include <boost/beast/http/status.hpp>
#include <caf/error.hpp>

#include "core/error.hpp"

namespace dibs {

/// The HTTP status of each error code: the one place that decides it.
boost::beast::http::status status_of(ec code);

/// The message an answer with `code` carries when nothing more specific is
/// known.
const char* default_message(ec code);

/// Turns any error an actor may answer with into a dibs code; CAF's own
/// errors (a request timeout, a dead actor) become `outcome_unknown`.
ec code_of(const caf::error& err);

} // namespace dibs
