#pragma once

// How issuances are stored in Kafka: the record's encoding, the log's
// identity and positions in it.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/domain.hpp"

namespace dibs {

/// Which log the writers read: the topic and the identity of the Kafka
/// cluster that holds it. Another cluster behind the same address (a broker
/// wiped and formatted anew) is a new log: offsets stored for another log id
/// mean nothing there.
struct log_ref {
  std::string topic;
  std::string log_id;
};

/// Where a partition of the issuance topic was read up to: the next offset.
struct partition_offset {
  int32_t partition = 0;
  int64_t next_offset = 0;
};

/// Serializes an event as the JSON value of its Kafka record.
std::string encode(const issuance_event& x);

/// Parses a Kafka record value; nullopt when it is not an issuance event.
/// A value of the shape `encode` writes is read without a JSON tree (the
/// writers read every record); any other goes to `decode_issuance_json`,
/// whose answer it is.
std::optional<issuance_event> decode_issuance(const void* data, size_t size);

/// The event in `text` when it has exactly the shape `encode` writes (no
/// space, the fields in its order, numbers of at most 19 digits without a
/// leading zero, a request id of safe characters); nullopt for anything
/// else, which the JSON parser then reads.
std::optional<issuance_event> read_plain_issuance(std::string_view text);

/// `decode_issuance` by the JSON parser alone.
std::optional<issuance_event> decode_issuance_json(const void* data,
                                                   size_t size);

/// The value of one record carrying `events` (at least one): a single
/// event as `encode` writes it, several as a JSON array of such objects.
/// The producer puts what waited for a partition's previous record into
/// one record (`kafka_producer::produce`).
std::string encode_batch(const std::vector<issuance_event>& events);

/// The events of a record value: the one event `decode_issuance` reads, or
/// every element of an array of them; empty when the value is neither (a
/// fence, an array with anything but events in it, garbage).
std::vector<issuance_event> decode_issuances(const void* data, size_t size);

/// A fence in one partition of the log: from `offset` on, records of a
/// shard epoch below `epoch` do not count. The node that takes a shard over
/// writes one (`encode_fence`) once the previous owner's lease is over, and
/// reads the partition to its end before it serves.
struct log_fence {
  int32_t partition = 0;
  int64_t offset = 0;
  uint64_t epoch = 0;
};

inline bool operator==(const log_fence& a, const log_fence& b) {
  return a.partition == b.partition && a.offset == b.offset
         && a.epoch == b.epoch;
}

/// The value of a fence record written by node `owner` under `epoch`.
std::string encode_fence(uint64_t epoch, const std::string& owner);

/// The epoch of a fence record; nullopt when the value is not one.
std::optional<uint64_t> decode_fence(const void* data, size_t size);

/// The value of a probe record, written by `owner` (a node's resolver):
/// neither events nor a fence, so every reader passes over it. Once a
/// probe is stored (acks=all), the partition's high watermark is past it,
/// and so past every record its leader appended before it.
std::string encode_probe(const std::string& owner);

/// Whether a record value is a probe.
bool is_probe(const void* data, size_t size);

/// Which records of the log count: every reader of the log (writers,
/// recovery, the resolver, the checkers) drops a record of a shard epoch
/// below that of a fence earlier in its partition. It is a pure function of
/// the fences it knows, whatever order records are read in.
class fence_filter {
public:
  /// Adds a fence; one already known changes nothing. True if it was new.
  bool add(const log_fence& f);

  /// The record at `offset` of `partition`, published under `epoch`, does
  /// not count.
  bool voids(int32_t partition, int64_t offset, uint64_t epoch) const;

  /// The fences known, by partition and offset.
  const std::vector<log_fence>& fences() const {
    return fences_;
  }

private:
  std::vector<log_fence> fences_;
};

/// What an owner knows of a partition it reads back from its own fence on
/// (`fence_watch` keeps one per shard): how far it has read, which records
/// after that are its own, and where a newer owner fenced it. A record of
/// its own counts once every record before it is known, read or its own,
/// with no such fence among them: a record the owner itself stored is no
/// newer owner's fence, so it need not be read to be known.
class read_back {
public:
  enum class verdict : uint8_t {
    /// Read, no newer fence before it.
    counts,
    /// A newer owner's fence is before it.
    fenced,
    /// Not read yet.
    pending,
  };

  /// Reading starts at `from`, this owner's fence of `epoch`: known, as
  /// the owner wrote it.
  read_back(uint64_t epoch = 0, int64_t from = 0)
    : epoch_(epoch), read_to_(from), known_to_(from + 1) {
  }

  /// The record at `offset` was read; `fence` is its epoch when it is a
  /// fence. True when it is the first fence of a newer owner.
  bool read(int64_t offset, std::optional<uint64_t> fence);

  /// The owner's event record at `offset`, stamped with `epoch`, is in the
  /// log (its delivery report said so). False, and nothing known, when
  /// `epoch` is not this reading's: a record of an earlier epoch of the
  /// same node (a replaced producer's, reported late) may have landed
  /// after this epoch's fence, where every reader voids it.
  bool own(int64_t offset, uint64_t epoch);

  verdict of(int64_t offset) const;

  /// Everything before it was read.
  int64_t read_to() const {
    return read_to_;
  }

  /// Everything before it was read or is the owner's own: the records of
  /// its own before it are decided.
  int64_t known_to() const {
    return known_to_;
  }

  /// Where a newer owner fenced the partition, or -1.
  int64_t fenced_at() const {
    return fenced_at_;
  }

  uint64_t epoch() const {
    return epoch_;
  }

private:
  /// Moves `known_to_` over what is read and over own records after it.
  void extend();

  uint64_t epoch_;
  int64_t read_to_;
  int64_t known_to_;
  /// Own records past a record not known yet.
  std::set<int64_t> own_;
  int64_t fenced_at_ = -1;
};

} // namespace dibs
