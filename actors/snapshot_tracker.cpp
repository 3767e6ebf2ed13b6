#include "actors/snapshot_tracker.hpp"

#include <algorithm>

namespace dibs {

void snapshot_tracker::start(snapshot_meta base) {
  written_ = std::move(base);
  written_.chunks = 0;
  partition_ = written_.partition;
  position_ = written_.position;
  reported_ = position_;
  pending_.clear();
  in_flight_ = 0;
  unresolved_ = 0;
  writing_ = false;
  rewrite_ = true;
  fenced_ = false;
}

void snapshot_tracker::on_stored(const issuance_event& e, int32_t partition,
                                 int64_t offset) {
  pending_.push_back(e);
  if (offset < 0)
    return;
  if (partition != partition_) {
    // The first report of the coupon, or the topic was re-created with
    // another layout: positions in the old partition mean nothing here.
    partition_ = partition;
    position_ = 0;
    reported_ = 0;
  }
  reported_ = std::max(reported_, offset);
  if (unresolved_ == 0)
    position_ = reported_;
}

void snapshot_tracker::on_unresolved_settled() {
  if (unresolved_ > 0 && --unresolved_ == 0)
    position_ = reported_;
}

std::pair<snapshot_meta, std::vector<issuance_event>>
snapshot_tracker::begin_append() {
  writing_ = true;
  in_flight_ = pending_.size();
  snapshot_meta after = written_;
  after.partition = partition_;
  after.position = position_;
  after.count += pending_.size();
  for (auto& e : pending_)
    after.checksum = snapshot_checksum(after.checksum, e);
  after.chunks += 1;
  return {std::move(after), pending_};
}

snapshot_meta snapshot_tracker::begin_verify() {
  writing_ = true;
  in_flight_ = 0;
  return written_;
}

snapshot_meta
snapshot_tracker::begin_rewrite(const std::vector<issuance_event>& all) {
  writing_ = true;
  in_flight_ = pending_.size();
  snapshot_meta after = written_;
  after.partition = partition_;
  after.position = position_;
  after.count = all.size();
  after.checksum = 0;
  for (auto& e : all)
    after.checksum = snapshot_checksum(after.checksum, e);
  after.chunks = 1;
  return after;
}

void snapshot_tracker::end_write(snapshot_write result,
                                 const snapshot_meta& after) {
  writing_ = false;
  switch (result) {
    case snapshot_write::done:
      pending_.erase(pending_.begin(),
                     pending_.begin() + static_cast<ptrdiff_t>(in_flight_));
      written_ = after;
      rewrite_ = false;
      break;
    case snapshot_write::diverged:
      rewrite_ = true;
      break;
    case snapshot_write::fenced:
      fenced_ = true;
      break;
  }
  in_flight_ = 0;
}

void snapshot_tracker::write_failed() {
  writing_ = false;
  in_flight_ = 0;
}

} // namespace dibs
