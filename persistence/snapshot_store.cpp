#include "persistence/snapshot_store.hpp"

#include <climits>
#include <map>
#include <optional>

#include <absl/container/flat_hash_set.h>

namespace dibs {

namespace {

/// Every chunk starts with this; a chunk of another format is corrupt.
constexpr char chunk_magic[] = {'D', 'B', 'S', '1'};
constexpr size_t magic_size = sizeof(chunk_magic);
/// issuance id, user id, issued_at: three little-endian 64-bit words.
constexpr size_t entry_size = 24;

void put_u64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFF));
}

uint64_t get_u64(const char* p) {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return x;
}

std::string encode_chunk(const std::vector<issuance_event>& events) {
  std::string out{chunk_magic, magic_size};
  out.reserve(magic_size + events.size() * entry_size);
  for (auto& e : events) {
    put_u64(out, e.issuance_id);
    put_u64(out, e.user_id);
    put_u64(out, static_cast<uint64_t>(e.issued_at));
  }
  return out;
}

/// Appends the chunk's issuances to `out`; false when it is malformed.
bool decode_chunk(const std::string& chunk, std::vector<issuance_event>& out) {
  if (chunk.size() < magic_size
      || chunk.compare(0, magic_size, chunk_magic, magic_size) != 0
      || (chunk.size() - magic_size) % entry_size != 0)
    return false;
  for (size_t i = magic_size; i < chunk.size(); i += entry_size) {
    issuance_event e;
    e.issuance_id = get_u64(chunk.data() + i);
    e.coupon_id = static_cast<coupon_id_t>(e.issuance_id >> 32);
    e.user_id = get_u64(chunk.data() + i + 8);
    e.issued_at = static_cast<epoch_ms>(get_u64(chunk.data() + i + 16));
    out.push_back(e);
  }
  return true;
}

// Appends a chunk when the snapshot is the one the writer extends: same
// epoch, one chunk less. A retry of a write that already happened
// finds one chunk more and the new checksum, and succeeds without writing.
// Returns 1 done, -1 diverged, 0 fenced.
// ARGV: epoch, chunks before, chunk, log_id, partition, position, count,
// checksum.
constexpr const char* append_script = R"lua(
local m = redis.call('HMGET', KEYS[1], 'epoch', 'chunks', 'checksum')
if not m[1] then return -1 end
local epoch = tonumber(m[1])
if epoch > tonumber(ARGV[1]) then return 0 end
if epoch < tonumber(ARGV[1]) then return -1 end
local chunks = tonumber(m[2])
local prev = tonumber(ARGV[2])
if chunks == prev + 1 and m[3] == ARGV[8] then return 1 end
if chunks ~= prev or redis.call('LLEN', KEYS[2]) ~= prev then return -1 end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'chunks', prev + 1, 'log_id', ARGV[4],
           'partition', ARGV[5], 'position', ARGV[6], 'count', ARGV[7],
           'checksum', ARGV[8])
return 1
)lua";

// Checks that the snapshot is still the one its writer last wrote (Redis may
// have restarted empty or been flushed since). Returns 1 yes, -1 no, 0
// fenced. ARGV: epoch, chunks, checksum.
constexpr const char* verify_script = R"lua(
local m = redis.call('HMGET', KEYS[1], 'epoch', 'chunks', 'checksum')
if not m[1] then return -1 end
local epoch = tonumber(m[1])
if epoch > tonumber(ARGV[1]) then return 0 end
if epoch == tonumber(ARGV[1]) and tonumber(m[2]) == tonumber(ARGV[2])
   and m[3] == ARGV[3]
   and redis.call('LLEN', KEYS[2]) == tonumber(ARGV[2]) then
  return 1
end
return -1
)lua";

// Replaces the snapshot unless a newer epoch owns it. Returns 1 or 0.
// ARGV: epoch, chunk, log_id, partition, position, count, checksum.
constexpr const char* rewrite_script = R"lua(
local e = redis.call('HGET', KEYS[1], 'epoch')
if e and tonumber(e) and tonumber(e) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'format', 1, 'epoch', ARGV[1], 'chunks', 1,
           'log_id', ARGV[3], 'partition', ARGV[4], 'position', ARGV[5],
           'count', ARGV[6], 'checksum', ARGV[7])
return 1
)lua";

caf::expected<snapshot_write> script_result(caf::expected<redis_value> r) {
  if (!r)
    return std::move(r.error());
  if (r->kind != redis_value::integer)
    return caf::make_error(ec::storage_failure,
                           "redis snapshot script: " + r->text);
  switch (r->number) {
    case 1: return snapshot_write::done;
    case 0: return snapshot_write::fenced;
    default: return snapshot_write::diverged;
  }
}

/// A call's reply as success: an error reply (a key of another type, a
/// server out of memory) is a failure too.
caf::expected<void> no_error(caf::expected<redis_value> r) {
  if (!r)
    return std::move(r.error());
  if (r->kind == redis_value::error)
    return caf::make_error(ec::storage_failure, "redis: " + r->text);
  return caf::unit;
}

std::optional<uint64_t> to_u64(const std::string& s) {
  try {
    size_t used = 0;
    auto x = std::stoull(s, &used);
    if (used != s.size())
      return std::nullopt;
    return x;
  } catch (...) {
    return std::nullopt;
  }
}

} // namespace

uint64_t snapshot_checksum(uint64_t sum, const issuance_event& e) {
  // splitmix64 finalizer over the fields, summed: order does not matter.
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return sum
         + mix(e.issuance_id ^ mix(e.user_id ^ mix(static_cast<uint64_t>(
                                                   e.issued_at))));
}

std::string snapshot_store::meta_key(coupon_id_t coupon) {
  return "dibs:snap:" + std::to_string(coupon) + ":meta";
}

std::string snapshot_store::chunks_key(coupon_id_t coupon) {
  return "dibs:snap:" + std::to_string(coupon) + ":chunks";
}

caf::expected<std::unique_ptr<snapshot_store>>
snapshot_store::connect(const redis_settings& settings) {
  auto r = redis_client::connect(settings);
  if (!r)
    return std::move(r.error());
  return std::unique_ptr<snapshot_store>{new snapshot_store(std::move(*r))};
}

caf::expected<loaded_snapshot> snapshot_store::load(coupon_id_t coupon) {
  auto replies = redis_->pipeline({{"HGETALL", meta_key(coupon)},
                                   {"LRANGE", chunks_key(coupon), "0", "-1"}});
  if (!replies)
    return std::move(replies.error());
  auto& meta = (*replies)[0];
  auto& chunks = (*replies)[1];
  loaded_snapshot result;
  auto corrupt = [&](std::string why) {
    result.fault = snapshot_fault::corrupt;
    result.reason = std::move(why);
    result.snap.events.clear();
    return result;
  };
  if (meta.kind != redis_value::array || chunks.kind != redis_value::array)
    return corrupt("unexpected reply types");
  if (meta.elements.empty()) {
    if (!chunks.elements.empty())
      return corrupt("chunks without meta");
    return result; // absent
  }
  std::map<std::string, std::string> fields;
  for (size_t i = 0; i + 1 < meta.elements.size(); i += 2)
    fields[meta.elements[i].text] = meta.elements[i + 1].text;
  auto number = [&](const char* name) -> std::optional<uint64_t> {
    auto i = fields.find(name);
    return i == fields.end() ? std::nullopt : to_u64(i->second);
  };
  auto format = number("format");
  auto epoch = number("epoch");
  auto n_chunks = number("chunks");
  auto count = number("count");
  auto checksum = number("checksum");
  auto position = number("position");
  if (!format || *format != 1 || !epoch || !n_chunks || !count || !checksum
      || !position || !fields.count("partition") || !fields.count("log_id"))
    return corrupt("missing or malformed meta fields");
  auto& snap = result.snap.meta;
  auto& events = result.snap.events;
  snap.epoch = *epoch;
  snap.log_id = fields["log_id"];
  auto partition = to_u64(fields["partition"]);
  if (!partition || *partition > INT32_MAX)
    return corrupt("bad partition " + fields["partition"]);
  snap.partition = static_cast<int32_t>(*partition);
  snap.position = static_cast<int64_t>(*position);
  snap.count = *count;
  snap.chunks = *n_chunks;
  snap.checksum = *checksum;
  if (chunks.elements.size() != snap.chunks)
    return corrupt("meta says " + std::to_string(snap.chunks)
                   + " chunks, the list has "
                   + std::to_string(chunks.elements.size()));
  events.reserve(*count);
  for (auto& c : chunks.elements)
    if (!decode_chunk(c.text, events))
      return corrupt("malformed chunk");
  if (events.size() != *count)
    return corrupt("meta says " + std::to_string(*count) + " issuances, the "
                   "chunks hold " + std::to_string(events.size()));
  uint64_t sum = 0;
  // A flat set: a snapshot may hold a million users, checked at every
  // recovery of its coupon.
  absl::flat_hash_set<user_id_t> users;
  users.reserve(events.size());
  for (auto& e : events) {
    if (e.coupon_id != coupon)
      return corrupt("an issuance of coupon " + std::to_string(e.coupon_id));
    if (!users.insert(e.user_id).second)
      return corrupt("user " + std::to_string(e.user_id) + " twice");
    sum = snapshot_checksum(sum, e);
  }
  if (sum != snap.checksum)
    return corrupt("checksum mismatch");
  result.fault = snapshot_fault::ok;
  return result;
}

caf::expected<snapshot_write>
snapshot_store::append(coupon_id_t coupon, const snapshot_meta& after,
                       const std::vector<issuance_event>& added) {
  if (added.empty())
    return script_result(redis_->command(
      {"EVAL", verify_script, "2", meta_key(coupon), chunks_key(coupon),
       std::to_string(after.epoch), std::to_string(after.chunks),
       std::to_string(after.checksum)}));
  return script_result(redis_->command(
    {"EVAL", append_script, "2", meta_key(coupon), chunks_key(coupon),
     std::to_string(after.epoch), std::to_string(after.chunks - 1),
     encode_chunk(added), after.log_id, std::to_string(after.partition),
     std::to_string(after.position), std::to_string(after.count),
     std::to_string(after.checksum)}));
}

caf::expected<snapshot_write>
snapshot_store::rewrite(coupon_id_t coupon, const snapshot_meta& meta,
                        const std::vector<issuance_event>& events) {
  return script_result(redis_->command(
    {"EVAL", rewrite_script, "2", meta_key(coupon), chunks_key(coupon),
     std::to_string(meta.epoch), encode_chunk(events), meta.log_id,
     std::to_string(meta.partition), std::to_string(meta.position),
     std::to_string(events.size()), std::to_string(meta.checksum)}));
}

caf::expected<void> snapshot_store::erase(coupon_id_t coupon) {
  return no_error(redis_->command({"DEL", meta_key(coupon),
                                   chunks_key(coupon)}));
}

caf::expected<void> snapshot_store::set_meta(coupon_id_t coupon,
                                             const std::string& field,
                                             const std::string& value) {
  return no_error(redis_->command({"HSET", meta_key(coupon), field, value}));
}

} // namespace dibs
