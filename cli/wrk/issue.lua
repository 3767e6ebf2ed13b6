-- wrk script: POST /api/coupons/{c}/issue with a random coupon in
-- [DIBS_FIRST_COUPON, DIBS_FIRST_COUPON + DIBS_COUPONS) and a random user in
-- 1..DIBS_USERS, for quick throughput checks; tests/bench/bench.sh uses it:
--   DIBS_FIRST_COUPON=1 DIBS_COUPONS=100 wrk -t1 -c100 -d10s --latency \
--     -s cli/wrk/issue.lua http://127.0.0.1:8080
local first = tonumber(os.getenv("DIBS_FIRST_COUPON") or "1")
local count = tonumber(os.getenv("DIBS_COUPONS") or "100")
local users = tonumber(os.getenv("DIBS_USERS") or "1000000")
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  local c = math.random(first, first + count - 1)
  local u = math.random(1, users)
  return wrk.format("POST", "/api/coupons/" .. c .. "/issue", headers,
                    '{"userId":' .. u .. '}')
end
