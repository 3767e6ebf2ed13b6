#define CAF_SUITE actors.fault_injection

#include "actors/fault_injection.hpp"

#include <caf/test/unit_test.hpp>

using namespace dibs;

CAF_TEST(every_fault_is_found_by_its_name) {
  for (auto f : {fault::crash_stock, fault::crash_writer,
                 fault::crash_snapshotter, fault::crash_resolver,
                 fault::producer_fatal, fault::drop_shard,
                 fault::fail_fence}) {
    auto name = to_string(f);
    CAF_CHECK_NOT_EQUAL(name, "?");
    auto back = parse_fault(name);
    CAF_REQUIRE(back);
    CAF_CHECK(*back == f);
  }
  CAF_CHECK(parse_fault("crash-stock") == fault::crash_stock);
  CAF_CHECK(parse_fault("producer-fatal") == fault::producer_fatal);
  CAF_CHECK(parse_fault("drop-shard") == fault::drop_shard);
  CAF_CHECK(parse_fault("fail-fence") == fault::fail_fence);
}

CAF_TEST(other_names_are_no_fault) {
  for (auto name : {"", "crash", "crash-stock ", "CRASH-STOCK", "no-such-fault",
                    "crash_stock"})
    CAF_CHECK(!parse_fault(name));
}
