#pragma once

// Seeded random edits of a text, for tests that check a fast reader of a
// shape against the full parser on texts near that shape.

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>

namespace dibs::test {

/// Up to three edits of `text`, each inserting, erasing or replacing one
/// character at a random place; new characters come from `alphabet`.
inline void edit_randomly(std::string& text, const std::string& alphabet,
                          std::mt19937_64& rng) {
  auto pick = [&](size_t n) {
    return static_cast<size_t>(rng() % std::max<size_t>(n, 1));
  };
  for (auto edits = pick(4); edits > 0; --edits) {
    auto at = pick(text.size() + 1);
    auto c = alphabet[pick(alphabet.size())];
    switch (pick(3)) {
      case 0:
        text.insert(at, 1, c);
        break;
      case 1:
        if (at < text.size())
          text.erase(at, 1);
        break;
      default:
        if (at < text.size())
          text[at] = c;
    }
  }
}

} // namespace dibs::test
