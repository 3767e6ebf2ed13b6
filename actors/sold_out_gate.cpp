#include "actors/sold_out_gate.hpp"

namespace dibs {

namespace {

/// A second, independent mix of the user id for the probes' stride
/// (Kirsch and Mitzenmacher: probe i at h1 + i * h2 is as good as i
/// independent hashes).
uint64_t stride_of(uint64_t h1) {
  return user_hash{}(h1 ^ 0x9e3779b97f4a7c15ULL) | 1;
}

} // namespace

holder_filter::holder_filter(size_t users) {
  size_t bits = 64;
  while (bits < users * 16)
    bits <<= 1;
  words_ = std::vector<std::atomic<uint64_t>>(bits / 64);
  mask_ = bits - 1;
}

void holder_filter::add(user_id_t user) {
  auto h = static_cast<uint64_t>(user_hash{}(user));
  auto step = stride_of(h);
  for (int i = 0; i < probes; ++i, h += step)
    words_[(h & mask_) >> 6].fetch_or(uint64_t{1} << (h & 63),
                                      std::memory_order_relaxed);
}

bool holder_filter::may_hold(user_id_t user) const {
  auto h = static_cast<uint64_t>(user_hash{}(user));
  auto step = stride_of(h);
  for (int i = 0; i < probes; ++i, h += step)
    if ((words_[(h & mask_) >> 6].load(std::memory_order_relaxed)
         & (uint64_t{1} << (h & 63)))
        == 0)
      return false;
  return true;
}

sold_out_gate::sold_out_gate(coupon info, std::shared_ptr<stock_stats> stats)
  : info_(std::move(info)), stats_(std::move(stats)) {
  // Empty.
}

bool sold_out_gate::answers_sold_out(user_id_t user, epoch_ms now) const {
  if (!closed())
    return false;
  // Outside its window the actor answers: NOT_OPEN or CLOSED to all but
  // the holders.
  if (before_window(info_, now) || after_window(info_, now))
    return false;
  if (filter_->may_hold(user))
    return false;
  if (stats_)
    stats_->record(issue_outcome::sold_out, user, now);
  return true;
}

} // namespace dibs
