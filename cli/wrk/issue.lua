-- wrk script: POST /api/coupons/{c}/issue with a random coupon in
-- [DIBS_FIRST_COUPON, DIBS_FIRST_COUPON + DIBS_COUPONS), or of the
-- comma-separated DIBS_COUPON_LIST, and a random user in 1..DIBS_USERS, for
-- quick throughput checks (DIBS_VIEW=1: GET /api/coupons/{c} instead, no
-- Kafka on the way); tests/bench/bench.sh and cluster.sh use it:
--   DIBS_FIRST_COUPON=1 DIBS_COUPONS=100 wrk -t1 -c100 -d10s --latency \
--     -s cli/wrk/issue.lua http://127.0.0.1:8080
local first = tonumber(os.getenv("DIBS_FIRST_COUPON") or "1")
local count = tonumber(os.getenv("DIBS_COUPONS") or "100")
local users = tonumber(os.getenv("DIBS_USERS") or "1000000")
local list = {}
for id in string.gmatch(os.getenv("DIBS_COUPON_LIST") or "", "%d+") do
  list[#list + 1] = tonumber(id)
end
local view = os.getenv("DIBS_VIEW") == "1"
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  local c = #list > 0 and list[math.random(1, #list)]
            or math.random(first, first + count - 1)
  if view then
    return wrk.format("GET", "/api/coupons/" .. c)
  end
  local u = math.random(1, users)
  return wrk.format("POST", "/api/coupons/" .. c .. "/issue", headers,
                    '{"userId":' .. u .. '}')
end
